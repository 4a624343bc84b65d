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
        h = torch.relu(x @ critic.weights[0][i] + critic.biases[0][i])
        h = torch.relu(h @ critic.weights[1][i] + critic.biases[1][i])
        qi = (h @ critic.weights[2][i] + critic.biases[2][i]).squeeze(-1)
        torch.testing.assert_close(q[i], qi)


def _old_layout_q(state: dict, x: torch.Tensor, n: int = 2) -> torch.Tensor:
    """Q of a critic saved before the first layer joined the batched ones, by that layout's
    definition: one Linear with n*H outputs, split into the n critics' hidden units."""
    h = torch.relu(x @ state["first.weight"].T + state["first.bias"])
    h = h.view(len(x), n, -1).transpose(0, 1)
    n_rest = sum(k.startswith("weights.") for k in state)
    for i in range(n_rest - 1):
        h = torch.relu(h @ state[f"weights.{i}"] + state[f"biases.{i}"])
    return (h @ state[f"weights.{n_rest - 1}"] + state[f"biases.{n_rest - 1}"]).squeeze(-1)


def _old_layout_state(obs_dim: int, act_dim: int, hidden: tuple[int, ...], n: int = 2) -> dict:
    g = torch.Generator().manual_seed(1)
    state = {"first.weight": torch.randn(n * hidden[0], obs_dim + act_dim, generator=g),
             "first.bias": torch.randn(n * hidden[0], generator=g)}
    dims = [*hidden, 1]
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        state[f"weights.{i}"] = torch.randn(n, d_in, d_out, generator=g)
        state[f"biases.{i}"] = torch.randn(n, 1, d_out, generator=g)
    return state


def test_critic_of_the_older_layout_loads_with_the_same_q():
    old = _old_layout_state(5, 2, (16, 8))
    critic = TwinCritic(5, 2, (16, 8))
    critic.load_state_dict(old)
    obs, act = torch.randn(7, 5), torch.randn(7, 2)
    torch.testing.assert_close(critic(obs, act), _old_layout_q(old, torch.cat([obs, act], -1)))
    assert "first.weight" in old  # the caller's dict is left as it was


def test_critic_optimizer_of_the_older_layout_keeps_each_moment_with_its_parameter():
    """Old Adam moments set equal to their parameters: after the upgrade, each parameter's
    moments must still equal it, whatever the reordering and reshaping."""
    from agents.nets import upgrade_critic_optimizer

    old = _old_layout_state(3, 1, (8, 8, 4))
    order = ["first.weight", "first.bias"] + sorted(k for k in old if k.startswith("weights.")) + \
        sorted(k for k in old if k.startswith("biases."))
    opt_state = {"state": {i: {"step": torch.tensor(3.0), "exp_avg": old[k].clone(),
                               "exp_avg_sq": 2 * old[k]} for i, k in enumerate(order)},
                 "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                                   "amsgrad": False, "maximize": False, "foreach": None,
                                   "capturable": False, "differentiable": False, "fused": True,
                                   "decoupled_weight_decay": False, "params": list(range(len(order)))}]}
    critic = TwinCritic(3, 1, (8, 8, 4))
    opt = torch.optim.Adam(critic.parameters(), fused=True)
    opt.load_state_dict(upgrade_critic_optimizer(opt_state, old))
    critic.load_state_dict(old)
    for p in critic.parameters():
        torch.testing.assert_close(opt.state[p]["exp_avg"], p.detach())
        torch.testing.assert_close(opt.state[p]["exp_avg_sq"], 2 * p.detach())


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


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_networks_in_bfloat16_compute_the_float32_function_to_its_precision(precision):
    """bfloat16 keeps 8 bits of mantissa: the outputs agree with float32's to ~1%, and differ
    from them at all only when the products did run in bfloat16. Parameters and outputs stay
    float32 either way."""
    from agents.nets import Actor

    torch.manual_seed(0)
    dtype = getattr(torch, precision)
    critic, actor = TwinCritic(5, 2, (64, 64), dtype=dtype), Actor(5, 2, (64, 64), dtype)
    ref_critic, ref_actor = TwinCritic(5, 2, (64, 64)), Actor(5, 2, (64, 64))
    ref_critic.load_state_dict(critic.state_dict())
    ref_actor.load_state_dict(actor.state_dict())
    obs, act = torch.randn(32, 5), torch.rand(32, 2) * 2 - 1
    pairs = [(critic(obs, act), ref_critic(obs, act)), (actor(obs)[0], ref_actor(obs)[0])]
    for out, ref in pairs:
        assert out.dtype == torch.float32
        err = (out - ref).abs().max() / ref.abs().max()
        if precision == "float32":
            assert err == 0
        else:
            assert 0 < err < 2e-2, float(err)
    assert all(p.dtype == torch.float32 for p in [*critic.parameters(), *actor.parameters()])


def test_sac_update_in_bfloat16_keeps_float32_state_and_moves_like_float32():
    """One update from the same weights on the same batch: the parameters move in the same
    direction as float32's (Adam's first step is lr * sign(grad) almost everywhere)."""
    from agents.buffer import Batch

    g = torch.Generator().manual_seed(0)
    n = 64
    batch = Batch(obs=torch.randn(n, 4, generator=g), action=torch.rand(n, 2, generator=g) * 2 - 1,
                  reward=torch.randn(n, generator=g), next_obs=torch.randn(n, 4, generator=g),
                  terminated=torch.zeros(n), skill=torch.zeros(n, dtype=torch.long),
                  next_feature=torch.zeros(n, 0))
    agents = {}
    for precision in ("float32", "bfloat16"):
        torch.manual_seed(1)
        agents[precision] = SAC(4, 2, SACConfig(hidden=(32, 32), precision=precision))
        torch.manual_seed(2)
        metrics = agents[precision].update(batch)
        assert all(math.isfinite(v) for v in metrics.values())
    torch.manual_seed(1)
    start = SAC(4, 2, SACConfig(hidden=(32, 32)))
    for name in ("actor", "critic"):
        before = torch.cat([p.detach().flatten() for p in getattr(start, name).parameters()])
        moved = {k: torch.cat([p.detach().flatten() for p in getattr(a, name).parameters()]) - before
                 for k, a in agents.items()}
        assert moved["bfloat16"].dtype == torch.float32
        same_sign = (torch.sign(moved["bfloat16"]) == torch.sign(moved["float32"])).float().mean()
        assert same_sign > 0.9, (name, float(same_sign))


def test_an_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(ValueError, match='precision must be "float32" or "bfloat16"'):
        SACConfig(precision="float16")
