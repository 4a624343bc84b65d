"""Vectorised trajectory sampling and discounted sums for Monte-Carlo checks and REINFORCE."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from agents.tabular.mdp import FiniteMDP, check_policy


class Trajectories(NamedTuple):
    """n episodes of fixed length; steps after termination are masked out by ``alive``."""

    states: np.ndarray
    """s_0 .. s_H, shape (n, H + 1); stays on the terminal state once one is reached."""
    actions: np.ndarray
    """a_t, shape (n, H); meaningless where not alive."""
    rewards: np.ndarray
    """R(s_t, a_t), shape (n, H); zero where not alive."""
    alive: np.ndarray
    """True while s_t is non-terminal, i.e. a_t was really taken, shape (n, H)."""


def _inverse_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise categorical draws: first index k with cdf[k] > u (so zero-mass k never wins)."""
    return np.minimum((cdf <= u[:, None]).sum(axis=1), cdf.shape[1] - 1)


def sample_trajectories(
    mdp: FiniteMDP, pi: np.ndarray, n: int, horizon: int, rng: np.random.Generator
) -> Trajectories:
    """Roll out ``n`` episodes of ``pi`` for ``horizon`` steps, all in parallel."""
    pi = check_policy(mdp, pi)
    if n < 1 or horizon < 1:
        raise ValueError(f"need n >= 1 and horizon >= 1, got n={n}, horizon={horizon}")
    pi_cdf, P_cdf = np.cumsum(pi, axis=1), np.cumsum(mdp.P, axis=2)
    states = np.empty((n, horizon + 1), dtype=np.int64)
    actions = np.empty((n, horizon), dtype=np.int64)
    states[:, 0] = _inverse_cdf(np.broadcast_to(np.cumsum(mdp.init), (n, mdp.n_states)), rng.random(n))
    for t in range(horizon):
        s = states[:, t]
        a = _inverse_cdf(pi_cdf[s], rng.random(n))
        actions[:, t] = a
        states[:, t + 1] = _inverse_cdf(P_cdf[s, a], rng.random(n))
    alive = ~mdp.terminal[states[:, :-1]]
    rewards = np.where(alive, mdp.R[states[:, :-1], actions], 0.0)
    return Trajectories(states, actions, rewards, alive)


def soft_rewards(traj: Trajectories, log_pi: np.ndarray, alpha: float) -> np.ndarray:
    """r_t - alpha log pi(a_t|s_t) on live steps, zero after termination, shape (n, H)."""
    bonus = -alpha * log_pi[traj.states[:, :-1], traj.actions]
    return np.where(traj.alive, traj.rewards + bonus, 0.0)


def rewards_to_go(x: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = sum_{k >= t} gamma^(k - t) x_k along the last axis."""
    g = np.zeros_like(x, dtype=np.float64)
    acc = np.zeros(x.shape[:-1])
    for t in range(x.shape[-1] - 1, -1, -1):
        acc = x[..., t] + gamma * acc
        g[..., t] = acc
    return g


def discounted_feature_sums(traj: Trajectories, features: np.ndarray, gamma: float) -> np.ndarray:
    """sum_t gamma^t phi(s_t) over live steps, per episode, shape (n, d)."""
    discount = gamma ** np.arange(traj.actions.shape[1])
    weights = traj.alive * discount
    return np.einsum("nt,ntd->nd", weights, features[traj.states[:, :-1]])
