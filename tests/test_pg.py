"""The deep maximum-entropy policy gradient (agents/pg.py): the soft return-to-go by hand, the
REINFORCE loss's expected gradient against the gradient of the soft objective itself, the policy
heads, the config's checks, and CartPole learned."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.config import FieldError
from agents.pg import (
    PGConfig,
    Policy,
    _env_action,
    evaluate_policy,
    reinforce_loss,
    soft_returns_to_go,
    train_maxent_pg,
)


def test_soft_returns_to_go_by_hand():
    # r - alpha log pi = [1.1, 2.05, 3.2] with alpha 0.1; gamma 0.5:
    # G_2 = 3.2, G_1 = 2.05 + 0.5 * 3.2 = 3.65, G_0 = 1.1 + 0.5 * 3.65 = 2.925.
    g = soft_returns_to_go(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([-1.0, -0.5, -2.0]), 0.5, 0.1)
    torch.testing.assert_close(g, torch.tensor([2.925, 3.65, 3.2]))
    # alpha 0: the plain discounted return-to-go.
    g0 = soft_returns_to_go(torch.tensor([1.0, 1.0]), torch.tensor([-3.0, -3.0]), 0.9, 0.0)
    torch.testing.assert_close(g0, torch.tensor([1.9, 1.0]))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 2.0])
def test_expected_reinforce_gradient_is_the_soft_objective_gradient(alpha):
    # A one-step bandit with a softmax policy: the score-function estimate with the soft return
    # r_a - alpha log pi(a), summed exactly over actions with weights pi(a), must equal the
    # gradient of J = sum_a pi(a) r_a + alpha H(pi), taken by autograd on J directly.
    torch.manual_seed(0)
    logits = torch.randn(5, requires_grad=True)
    r = torch.randn(5)

    pi = torch.softmax(logits, -1)
    objective = (pi * r).sum() - alpha * (pi * torch.log(pi)).sum()
    (expected,) = torch.autograd.grad(objective, logits)

    log_pi = torch.log_softmax(logits, -1)
    g = soft_returns_to_go(r, log_pi.detach(), gamma=0.0, alpha=alpha)  # one step: G = r - alpha log pi
    estimate = torch.zeros(5)
    for a in range(5):
        (grad_a,) = torch.autograd.grad(reinforce_loss(log_pi[a:a + 1], g[a:a + 1]), logits,
                                        retain_graph=True)
        estimate -= pi[a].detach() * grad_a  # the loss is minus the objective
    torch.testing.assert_close(estimate, expected, atol=1e-6, rtol=1e-5)


def test_policy_heads_and_actions_in_bounds():
    obs = torch.zeros(7, 3)
    discrete = Policy(3, gym.spaces.Discrete(4), (16,))
    assert discrete.dist(obs).sample().shape == (7,)
    torch.testing.assert_close(discrete.dist(obs).probs.sum(-1), torch.ones(7))
    box = gym.spaces.Box(-0.5, 0.5, (2,), np.float32)
    gaussian = Policy(3, box, (16,))
    assert gaussian.dist(obs).log_prob(torch.zeros(7, 2)).shape == (7,)  # one log pi per action vector
    far = torch.tensor([3.0, -3.0])
    np.testing.assert_array_equal(_env_action(gaussian, far, gym.make("Pendulum-v1")), [2.0, -2.0])


@pytest.mark.parametrize("bad", [{"lr": 0}, {"batch_steps": 0}, {"iterations": -1}, {"alpha": -0.1},
                                 {"hidden": (0,)}, {"gamma": 1.5}])
def test_config_refuses_bad_values(bad):
    with pytest.raises(FieldError):
        PGConfig(**bad)


def test_learns_cartpole():
    # 100k env steps (about 20 s): a random policy lasts about 22 steps, the cap is 500.
    cfg = PGConfig(batch_steps=2000, iterations=50, lr=1e-2)
    policy = train_maxent_pg(gym.make("CartPole-v1"), cfg, seed=0)
    score = evaluate_policy(gym.make("CartPole-v1"), policy, episodes=10, seed=1000)
    assert score >= 300, score
