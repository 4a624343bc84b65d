"""Exact dynamic programming for hard and maximum-entropy (soft) RL on a FiniteMDP.

Soft Bellman equations (Haarnoja et al. 2017, Thm. 1-2; Ziebart 2010, ch. 6):
    Q(s, a) = R(s, a) + gamma * sum_s' P(s'|s, a) V(s')
    V(s)    = alpha * log sum_a exp(Q(s, a) / alpha)
    pi(a|s) = exp((Q(s, a) - V(s)) / alpha)
with V = 0 at terminal states (the episode is over, see ``mdp.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from agents.tabular.mdp import FiniteMDP, check_alpha, check_policy


@dataclass(frozen=True, eq=False)
class Solution:
    """Output of a solver: values, policy and how converged they are."""

    Q: np.ndarray
    """Action values, shape (S, A)."""
    V: np.ndarray
    """State values, shape (S,); zero at terminal states."""
    pi: np.ndarray
    """Policy pi(a|s), shape (S, A)."""
    residual: float
    """Sup-norm Bellman residual ||T Q - Q||_inf of the returned Q."""
    iterations: int
    """Sweeps (VI) or evaluation/improvement rounds (PI) used."""


def soft_value(q: np.ndarray, alpha: float) -> np.ndarray:
    """V = alpha * logsumexp(q / alpha) over the last axis.

    The max is pulled out before exponentiating, so alpha = 1e-4 with |q| ~ 1 stays finite.
    """
    m = q.max(axis=-1)
    return m + alpha * np.log(np.exp((q - m[..., None]) / alpha).sum(axis=-1))


def boltzmann_policy(q: np.ndarray, alpha: float) -> np.ndarray:
    """pi(a|s) = exp((Q(s, a) - V(s)) / alpha), the soft-greedy policy of ``q``."""
    return np.exp((q - soft_value(q, alpha)[..., None]) / alpha)


def greedy_policy(q: np.ndarray) -> np.ndarray:
    """One-hot argmax policy; ties go to the lowest action index."""
    pi = np.zeros_like(q)
    pi[np.arange(q.shape[0]), q.argmax(axis=1)] = 1.0
    return pi


def entropy(pi: np.ndarray) -> np.ndarray:
    """H(pi(.|s)) = -sum_a pi log pi per state, with 0 log 0 = 0."""
    return -(pi * safe_log(pi)).sum(axis=-1)


def safe_log(x: np.ndarray) -> np.ndarray:
    """log x with log 0 replaced by 0, for use inside x * log x."""
    return np.log(np.where(x > 0.0, x, 1.0))


def backup(mdp: FiniteMDP, v: np.ndarray) -> np.ndarray:
    """Q = R + gamma P V, with V masked to zero at terminal states."""
    return mdp.R + mdp.gamma * mdp.P @ (mdp.live * v)


def _iterate(mdp: FiniteMDP, value_of, tol: float, max_iter: int) -> tuple[np.ndarray, int]:
    """Apply Q <- backup(value_of(Q)) until successive iterates differ by less than tol."""
    q = np.zeros_like(mdp.R)
    for it in range(1, max_iter + 1):
        q_new = backup(mdp, value_of(q))
        done = np.abs(q_new - q).max() < tol
        q = q_new
        if done:
            return q, it
    warnings.warn(f"value iteration hit max_iter={max_iter} before tol={tol}", stacklevel=3)
    return q, max_iter


def value_iteration(mdp: FiniteMDP, tol: float = 1e-10, max_iter: int = 100_000) -> Solution:
    """Hard value iteration, V(s) = max_a Q(s, a); pi is greedy."""
    q, it = _iterate(mdp, lambda q: q.max(axis=1), tol, max_iter)
    v = mdp.live * q.max(axis=1)
    residual = float(np.abs(backup(mdp, v) - q).max())
    return Solution(q, v, greedy_policy(q), residual, it)


def soft_value_iteration(
    mdp: FiniteMDP, alpha: float, tol: float = 1e-10, max_iter: int = 100_000
) -> Solution:
    """Soft value iteration: iterate the soft Bellman backup, a gamma-contraction in sup norm."""
    alpha = check_alpha(alpha)
    q, it = _iterate(mdp, lambda q: soft_value(q, alpha), tol, max_iter)
    v = mdp.live * soft_value(q, alpha)
    residual = float(np.abs(backup(mdp, v) - q).max())
    return Solution(q, v, boltzmann_policy(q, alpha), residual, it)


def policy_transitions(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """P_pi(s, s') = sum_a pi(a|s) P(s'|s, a), with terminal rows zeroed (nothing follows)."""
    return mdp.live[:, None] * np.einsum("sa,sat->st", pi, mdp.P)


def soft_policy_evaluation(
    mdp: FiniteMDP, pi: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Q^pi, V^pi) of the entropy-augmented return, by one linear solve.

    V^pi(s) = sum_a pi(a|s) (R(s, a) - alpha log pi(a|s)) + gamma sum_s' P_pi(s, s') V^pi(s'),
    i.e. V^pi = (I - gamma P_pi)^-1 r_pi, then Q^pi = R + gamma P V^pi.
    ``alpha = 0`` gives ordinary policy evaluation.
    """
    pi = check_policy(mdp, pi)
    if not alpha >= 0.0:
        raise ValueError(f"alpha must be >= 0 for policy evaluation, got {alpha}")
    r_pi = mdp.live * (pi * (mdp.R - alpha * safe_log(pi))).sum(axis=1)
    A = np.eye(mdp.n_states) - mdp.gamma * policy_transitions(mdp, pi)
    v = np.linalg.solve(A, r_pi)
    return backup(mdp, v), v


def soft_policy_iteration(
    mdp: FiniteMDP, alpha: float, tol: float = 1e-10, max_iter: int = 1_000
) -> Solution:
    """Soft policy iteration (Haarnoja et al. 2018, Lemma 2): exact soft evaluation, then
    pi <- softmax(Q^pi / alpha). Each round improves V^pi; it is Newton's method on the soft
    Bellman equation, so few rounds are needed. Starts from the uniform policy."""
    alpha = check_alpha(alpha)
    pi = np.full(mdp.R.shape, 1.0 / mdp.n_actions)
    residual = np.inf
    for it in range(1, max_iter + 1):
        q, _ = soft_policy_evaluation(mdp, pi, alpha)
        v = mdp.live * soft_value(q, alpha)
        residual = float(np.abs(backup(mdp, v) - q).max())
        pi = boltzmann_policy(q, alpha)
        if residual < tol:
            return Solution(q, v, pi, residual, it)
    warnings.warn(f"soft policy iteration hit max_iter={max_iter} before tol={tol}", stacklevel=2)
    return Solution(q, v, pi, residual, max_iter)


def state_visitation(mdp: FiniteMDP, pi: np.ndarray, horizon: int | None = None) -> np.ndarray:
    """Discounted occupancy d(s) = sum_t gamma^t Pr(s_t = s), shape (S,).

    Infinite horizon: d solves d^T (I - gamma P_pi) = init^T. With ``horizon`` the sum stops at
    t = horizon - 1. Terminal states are counted once, at arrival.
    """
    pi = check_policy(mdp, pi)
    P_pi = policy_transitions(mdp, pi)
    if horizon is None:
        return np.linalg.solve((np.eye(mdp.n_states) - mdp.gamma * P_pi).T, mdp.init)
    d, mu = np.zeros(mdp.n_states), mdp.init.copy()
    for t in range(horizon):
        d += mdp.gamma**t * mu
        mu = mu @ P_pi
    return d


def absorption_probabilities(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """Pr(the episode ends in terminal state s), undiscounted, shape (S,); 0 off terminals.

    Standard absorbing-chain result: with transient block T and N = (I - P_TT)^-1, the
    absorption distribution is init_T N P_T,term (+ mass that starts terminal).
    """
    pi = check_policy(mdp, pi)
    if not mdp.terminal.any():
        raise ValueError("absorption probabilities need an MDP with terminal states")
    P_pi = policy_transitions(mdp, pi)
    t, g = ~mdp.terminal, mdp.terminal
    n = np.linalg.solve((np.eye(int(t.sum())) - P_pi[np.ix_(t, t)]).T, mdp.init[t])
    out = np.zeros(mdp.n_states)
    out[g] = mdp.init[g] + n @ P_pi[np.ix_(t, g)]
    return out
