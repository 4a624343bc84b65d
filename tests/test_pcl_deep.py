"""Deep PCL (agents/pcl.py): the windowed consistency against the tabular form, its edges, and
a short learning run."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.config import ConfigError
from agents.pcl import DeepPCLConfig, train_pcl, window_consistency
from agents.pg import evaluate_policy
from agents.tabular import consistency_error, deterministic_mdp, soft_value_iteration


def test_window_consistency_by_hand():
    # T = 3, d = 2, gamma = 0.5, alpha = 0.1, x_t = r_t - alpha log pi_t = (1.1, 2.2, 3.3)
    # V = (1, 2, 4, 8), s_3 terminal already zeroed by the caller: V(s_3) = 0.
    # t=0: -1 + 0.25 * 4 + 1.1 + 0.5 * 2.2 = 2.2
    # t=1: -2 + 0.25 * 0 + 2.2 + 0.5 * 3.3 = 1.85
    # t=2: the shorter final window, one step: -4 + 0.5 * 0 + 3.3 = -0.7
    log_pi = torch.tensor([-1.0, -2.0, -3.0], dtype=torch.float64)
    rewards = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    values = torch.tensor([1.0, 2.0, 4.0, 0.0], dtype=torch.float64)
    c = window_consistency(values, log_pi, rewards, gamma=0.5, alpha=0.1, d=2)
    assert c.tolist() == pytest.approx([2.2, 1.85, -0.7], abs=1e-12)
    # a time limit instead: V(s_3) = 8 bootstraps the windows that reach it
    values[3] = 8.0
    c = window_consistency(values, log_pi, rewards, gamma=0.5, alpha=0.1, d=2)
    assert c.tolist() == pytest.approx([2.2, 1.85 + 0.25 * 8, -0.7 + 0.5 * 8], abs=1e-12)


@pytest.mark.parametrize("d", [1, 3, 7])
def test_window_consistency_matches_the_tabular_form_window_by_window(d):
    rng = np.random.default_rng(d)
    T, gamma, alpha = 10, 0.9, 0.3
    values, log_pi, rewards = rng.normal(size=T + 1), -rng.random(T), rng.normal(size=T)
    got = window_consistency(*(torch.tensor(x) for x in (values, log_pi, rewards)), gamma, alpha, d)
    for t in range(T):
        e = min(t + d, T)
        want = consistency_error(values[t], values[e], rewards[t:e], log_pi[t:e], gamma, alpha)
        assert got[t].item() == pytest.approx(want, abs=1e-12)


def test_soft_optimal_values_and_policy_have_zero_consistency_on_any_path():
    """Thm. 1 / Cor. 2 of the paper on a random deterministic MDP, through the deep form: a path
    of random actions (off-policy), cut by a time limit, windows of length 4."""
    rng = np.random.default_rng(0)
    mdp, alpha = deterministic_mdp(6, 3, 0.9, rng), 0.5
    sol = soft_value_iteration(mdp, alpha, tol=1e-12)
    s, states, actions = 0, [0], []
    for _ in range(25):
        a = int(rng.integers(mdp.n_actions))
        s = int(mdp.P[s, a].argmax())
        actions.append(a)
        states.append(s)
    states, actions = np.array(states), np.array(actions)
    args = (torch.tensor(sol.V[states]), torch.tensor(np.log(sol.pi[states[:-1], actions])),
            torch.tensor(mdp.R[states[:-1], actions]))
    assert window_consistency(*args, mdp.gamma, alpha, 4).abs().max() < 1e-8
    perturbed = (args[0] + torch.tensor(rng.normal(scale=0.1, size=len(states))), *args[1:])
    assert window_consistency(*perturbed, mdp.gamma, alpha, 4).abs().max() > 1e-2


@pytest.mark.parametrize("bad, message", [({"d": 0}, "d"), ({"gamma": 1.5}, "gamma"),
                                          ({"alpha": -1.0}, "alpha"), ({"hidden": (0,)}, "hidden")])
def test_config_rejects_bad_values(bad, message):
    with pytest.raises(ConfigError, match=message):
        DeepPCLConfig(**bad)


def test_pcl_takes_discrete_actions_only():
    with pytest.raises(ConfigError, match="discrete actions"):
        train_pcl(gym.make("Pendulum-v1"), DeepPCLConfig(total_steps=10))


def test_pcl_learns_cartpole():
    """Short and seeded: far above a random policy's ~22 after 30k steps (seeds 0-2 reach 141-214)."""
    torch.set_num_threads(1)
    cfg = DeepPCLConfig(total_steps=30_000)
    policy = train_pcl(gym.make("CartPole-v1"), cfg, seed=0)
    assert evaluate_policy(gym.make("CartPole-v1"), policy, episodes=10, seed=100) >= 100
