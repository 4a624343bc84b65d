"""SAC's pure functions against hand-worked numbers and independent computations."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from agents.nets import TwinCritic
from agents.sac import (
    SAC,
    SACConfig,
    actor_loss,
    alpha_grad,
    critic_loss,
    polyak_update,
    sac_target,
    step_temperature,
    tanh_gaussian_log_prob,
)


def test_tanh_gaussian_log_prob_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(64, 3, generator=g)
    log_std = torch.rand(64, 3, generator=g) * 2 - 1.5
    u = mean + log_std.exp() * torch.randn(64, 3, generator=g)
    u = u.clamp(-3, 3).double()  # keep atanh(tanh(u)) exact in the reference
    ref = Independent(TransformedDistribution(Normal(mean.double(), log_std.double().exp()),
                                              [TanhTransform()]), 1)
    expected = ref.log_prob(torch.tanh(u))
    got = tanh_gaussian_log_prob(u, mean.double(), log_std.double())
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_tanh_log_prob_is_finite_where_tanh_saturates():
    u = torch.tensor([[30.0, -30.0]])
    lp = tanh_gaussian_log_prob(u, torch.zeros(1, 2), torch.zeros(1, 2))
    assert torch.isfinite(lp).all()


def test_sac_target_by_hand():
    # min(2, 3) = 2; soft value 2 - 0.5 * (-1) = 2.5; y = 1 + 0.9 * 2.5 = 3.25
    next_q = torch.tensor([[2.0, 2.0], [3.0, 3.0]])
    y = sac_target(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0]), 0.9, next_q,
                   torch.tensor([-1.0, -1.0]), 0.5)
    # bootstraps through a non-terminal (a truncation is stored as terminated=0),
    # not through a termination
    torch.testing.assert_close(y, torch.tensor([3.25, 1.0]))


def test_critic_loss_by_hand():
    q = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    target = torch.tensor([0.0, 0.0])
    # 0.5 * (mean(1, 4) + mean(0, 0)) = 1.25
    assert critic_loss(q, target).item() == pytest.approx(1.25)


def test_actor_loss_by_hand():
    assert actor_loss(torch.tensor([-1.0, 1.0]), torch.tensor([2.0, 4.0]), 0.5).item() == \
        pytest.approx(((-0.5 - 2.0) + (0.5 - 4.0)) / 2)


@pytest.mark.parametrize("log_pi, alpha_grows", [(2.0, True), (-3.0, False)])
def test_alpha_gradient_sign(log_pi, alpha_grows):
    # target entropy -1: entropy -log_pi = -2 is below it (alpha must grow), 3 is above (shrink)
    log_alpha = torch.zeros((), requires_grad=True)
    opt = torch.optim.SGD([log_alpha], lr=0.1)
    step_temperature(log_alpha, opt, torch.full((8,), log_pi), target_entropy=-1.0)
    assert log_alpha.grad.item() == pytest.approx(-(log_pi - 1.0))
    assert log_alpha.item() == pytest.approx(0.1 * (log_pi - 1.0))
    assert (log_alpha.item() > 0) == alpha_grows


def test_alpha_gradient_is_autograds_of_the_temperature_loss():
    log_alpha = torch.tensor(0.3, requires_grad=True)
    log_pi = torch.randn(32, generator=torch.Generator().manual_seed(0))
    # 1812.05905 eq. 18 in log space, differentiated by autograd.
    target_entropy = -6.0
    (-(log_alpha * (log_pi + target_entropy)).mean()).backward()
    assert alpha_grad(log_pi, target_entropy).item() == pytest.approx(log_alpha.grad.item(), abs=1e-6)


def test_polyak_update_by_hand():
    online = [torch.ones(3), torch.full((2,), 4.0)]
    target = [torch.zeros(3), torch.zeros(2)]
    polyak_update(online, target, tau=0.1)
    torch.testing.assert_close(target[0], torch.full((3,), 0.1))
    torch.testing.assert_close(target[1], torch.full((2,), 0.4))


def test_twin_critic_equals_two_separate_mlps():
    torch.manual_seed(0)
    critic = TwinCritic(5, 2, (16, 8))
    obs, act = torch.randn(7, 5), torch.randn(7, 2)
    q = critic(obs, act)
    x = torch.cat([obs, act], -1)
    for i in range(2):
        w0 = critic.first.weight.view(2, 16, 7)[i]
        b0 = critic.first.bias.view(2, 16)[i]
        h = torch.relu(x @ w0.T + b0)
        h = torch.relu(h @ critic.weights[0][i] + critic.biases[0][i])
        qi = (h @ critic.weights[1][i] + critic.biases[1][i]).squeeze(-1)
        torch.testing.assert_close(q[i], qi)


def test_detached_critic_passes_gradient_to_actions_only():
    critic = TwinCritic(3, 2, (8,))
    act = torch.randn(4, 2, requires_grad=True)
    critic(torch.randn(4, 3), act, detach=True).sum().backward()
    assert act.grad is not None and act.grad.abs().sum() > 0
    assert all(p.grad is None for p in critic.parameters())


def test_fixed_alpha_stays_fixed():
    from agents.buffer import ReplayBuffer

    agent = SAC(3, 1, SACConfig(hidden=(8,), alpha=0.1, batch_size=4))
    buf = ReplayBuffer(16, 3, 1)
    for i in range(16):
        buf.add([i, 0, 0], [0.1], 1.0, [i + 1, 0, 0], False)
    for _ in range(3):
        metrics = agent.update(buf.sample(4))
    assert metrics["train/alpha"] == pytest.approx(0.1)
    assert math.exp(agent.log_alpha.item()) == pytest.approx(0.1)


def test_learned_alpha_of_a_step_is_the_one_before_its_update():
    # As in SB3: this step's critic and actor losses use alpha before this step's alpha update;
    # the update itself moves log_alpha by about lr (Adam's first step), here 0.1.
    from agents.buffer import ReplayBuffer

    agent = SAC(3, 1, SACConfig(hidden=(8,), init_alpha=1.0, alpha_lr=0.1, batch_size=4))
    buf = ReplayBuffer(16, 3, 1)
    for i in range(16):
        buf.add([i, 0, 0], [0.1], 1.0, [i + 1, 0, 0], False)
    metrics = agent.update(buf.sample(4))
    assert metrics["train/alpha"] == 1.0
    assert abs(agent.log_alpha.item()) == pytest.approx(0.1, rel=1e-3)
