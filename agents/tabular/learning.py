"""Learning the soft-optimal policy from samples or gradients: tabular soft Q-learning and
maximum-entropy policy gradient with a softmax policy pi_theta(a|s) ∝ exp(theta(s, a))."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from agents.tabular.mdp import FiniteMDP, check_alpha
from agents.tabular.sampling import rewards_to_go, sample_trajectories, soft_rewards
from agents.tabular.solvers import boltzmann_policy, soft_policy_evaluation, state_visitation


class Exploration(Enum):
    """Behaviour policy for soft Q-learning (it is off-policy, so either converges)."""

    UNIFORM = "uniform"
    BOLTZMANN = "boltzmann"


@dataclass(frozen=True)
class SoftQLearningConfig:
    """Settings for ``soft_q_learning``."""

    n_steps: int = 50_000
    """Environment steps (= updates)."""
    horizon: int = 50
    """Episodes are truncated after this many steps; truncation still bootstraps."""
    lr_power: float = 0.6
    """Step size n(s, a)^-lr_power; any power in (0.5, 1] meets Robbins-Monro."""
    exploration: Exploration = Exploration.UNIFORM
    """Behaviour policy."""
    epsilon: float = 0.1
    """Boltzmann exploration acts uniformly with this probability. Q-learning converges only
    if every pair keeps being tried (Watkins & Dayan 1992); pure Boltzmann on the current Q
    starves actions whose early estimates were low (weight exp(-gap / alpha))."""


def soft_q_target(
    reward: float, terminated: bool, gamma: float, next_q: np.ndarray, alpha: float
) -> float:
    """y = r + gamma * (1 - terminated) * alpha * logsumexp(Q(s', .) / alpha)."""
    if terminated:
        return reward
    m = float(next_q.max())
    return reward + gamma * (m + alpha * float(np.log(np.exp((next_q - m) / alpha).sum())))


def soft_q_learning(
    mdp: FiniteMDP,
    alpha: float,
    rng: np.random.Generator,
    config: SoftQLearningConfig = SoftQLearningConfig(),
) -> tuple[np.ndarray, dict[str, float]]:
    """Online tabular soft Q-learning (Haarnoja et al. 2017, in tabular form):
    Q(s, a) += lr * (r + gamma V_soft(s') - Q(s, a)) on transitions from the behaviour policy.
    Returns Q and a metrics dict."""
    alpha = check_alpha(alpha)
    S, A = mdp.R.shape
    P_cdf, init_cdf = np.cumsum(mdp.P, axis=2), np.cumsum(mdp.init)
    q = np.zeros((S, A))
    counts = np.zeros((S, A))
    u = rng.random((config.n_steps, 4))  # drawn up front: one block beats n small draws
    s, t, episodes = min(int(np.searchsorted(init_cdf, rng.random(), side="right")), S - 1), 0, 1
    for i in range(config.n_steps):
        if config.exploration is Exploration.UNIFORM:
            a = min(int(u[i, 0] * A), A - 1)
        elif u[i, 0] < config.epsilon:
            a = min(int(u[i, 3] * A), A - 1)
        else:  # a fresh uniform: u[i, 0] is no longer uniform on [0, 1) in this branch
            a = int(np.searchsorted(np.cumsum(boltzmann_policy(q[s], alpha)), u[i, 3], side="right"))
            a = min(a, A - 1)
        s_next = min(int(np.searchsorted(P_cdf[s, a], u[i, 1], side="right")), S - 1)
        done = bool(mdp.terminal[s_next])
        y = soft_q_target(mdp.R[s, a], done, mdp.gamma, q[s_next], alpha)
        counts[s, a] += 1.0
        q[s, a] += counts[s, a] ** -config.lr_power * (y - q[s, a])
        s, t = s_next, t + 1
        if done or t == config.horizon:
            s = min(int(np.searchsorted(init_cdf, u[i, 2], side="right")), S - 1)
            t, episodes = 0, episodes + 1
    live_counts = counts[~mdp.terminal]
    return q, {"train/episodes": float(episodes), "train/min_visits": float(live_counts.min())}


def softmax_policy(theta: np.ndarray) -> np.ndarray:
    """pi_theta(a|s) = exp(theta(s, a)) / sum_b exp(theta(s, b))."""
    z = np.exp(theta - theta.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def maxent_objective(mdp: FiniteMDP, theta: np.ndarray, alpha: float) -> float:
    """J(theta) = sum_s init(s) V^pi_soft(s): expected entropy-augmented discounted return."""
    _, v = soft_policy_evaluation(mdp, softmax_policy(theta), alpha)
    return float(mdp.init @ v)


def maxent_policy_gradient(mdp: FiniteMDP, theta: np.ndarray, alpha: float) -> np.ndarray:
    """Exact dJ/dtheta(s, a) = d(s) pi(a|s) [Q(s, a) - alpha log pi(a|s) - V(s)].

    Policy gradient theorem with the entropy term: grad V = sum_s d(s) sum_a grad pi(a|s)
    (Q(s, a) - alpha log pi(a|s)) (the "+1" from d(pi log pi) vanishes as sum_a grad pi = 0),
    then d pi(a|s) / d theta(s, b) = pi(a|s) (1[a = b] - pi(b|s)). d is the unnormalised
    discounted visitation, so this is the gradient of J itself (cf. Mei et al. 2020).
    """
    pi = softmax_policy(theta)
    q, v = soft_policy_evaluation(mdp, pi, alpha)
    d = state_visitation(mdp, pi) * mdp.live
    return d[:, None] * pi * (q - alpha * np.log(pi) - v[:, None])


def reinforce_gradient(
    mdp: FiniteMDP,
    theta: np.ndarray,
    alpha: float,
    n_episodes: int,
    horizon: int,
    rng: np.random.Generator,
    baseline: np.ndarray | None = None,
) -> np.ndarray:
    """Monte-Carlo estimate of dJ/dtheta (Williams 1992 with an entropy bonus):
    mean over episodes of sum_t gamma^t grad log pi(a_t|s_t) (G_t - b(s_t)), where
    G_t = sum_{k >= t} gamma^(k-t) (r_k - alpha log pi(a_k|s_k)). The derivative of the
    -alpha log pi terms themselves has zero mean (E_a grad log pi = 0), so it is dropped.
    Unbiased up to the gamma^horizon truncation; a state baseline b keeps it unbiased."""
    pi = softmax_policy(theta)
    log_pi = np.log(pi)
    traj = sample_trajectories(mdp, pi, n_episodes, horizon, rng)
    g = rewards_to_go(soft_rewards(traj, log_pi, alpha), mdp.gamma)
    s, a = traj.states[:, :-1], traj.actions
    if baseline is not None:
        g = g - baseline[s]
    w = (traj.alive * mdp.gamma ** np.arange(horizon) * g).ravel()
    s, a = s.ravel(), a.ravel()
    # grad_theta log pi(a|s) = e_(s, a) - pi(.|s) placed on row s.
    grad = np.zeros_like(theta, dtype=np.float64)
    np.add.at(grad, (s, a), w)
    np.add.at(grad, s, -w[:, None] * pi[s])
    return grad / n_episodes


def maxent_policy_gradient_ascent(
    mdp: FiniteMDP,
    alpha: float,
    lr: float,
    n_steps: int,
    theta0: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """theta <- theta + lr * dJ/dtheta with the exact gradient. Entropy regularisation makes
    softmax PG converge linearly to the soft-optimal policy (Mei et al. 2020)."""
    alpha = check_alpha(alpha)
    theta = np.zeros(mdp.R.shape) if theta0 is None else np.array(theta0, dtype=np.float64)
    for _ in range(n_steps):
        theta = theta + lr * maxent_policy_gradient(mdp, theta, alpha)
    grad = maxent_policy_gradient(mdp, theta, alpha)
    metrics = {
        "train/objective": maxent_objective(mdp, theta, alpha),
        "train/grad_norm": float(np.abs(grad).max()),
    }
    return theta, metrics
