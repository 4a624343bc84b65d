"""Maximum-entropy inverse RL (Ziebart et al. 2008) with a linear state reward r(s) = theta^T phi(s).

The learner's policy is the soft-optimal policy of r_theta. Its discounted causal-entropy dual
    L(theta) = theta^T mu_hat - sum_s init(s) V*_theta(s)
is concave in theta (V* is a max over policies of functions linear in theta), and since
dV*(s0)/dR(s, a) = d(s) pi(a|s) its gradient is the feature-matching residual
    grad L = mu_hat - mu(pi_theta),  mu(pi) = sum_s d^pi(s) phi(s)
(Ziebart et al. 2008, eq. 6; Ziebart 2010, ch. 6 for the causal, discounted form).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.tabular.mdp import FiniteMDP, check_alpha
from agents.tabular.sampling import Trajectories, discounted_feature_sums
from agents.tabular.solvers import soft_policy_iteration, state_visitation


@dataclass(frozen=True)
class MaxEntIRLConfig:
    """Settings for ``maxent_irl``."""

    alpha: float = 1.0
    """Temperature of the learner; with a free reward scale, 1 loses no generality."""
    lr: float = 0.05
    """Gradient-ascent step on theta."""
    max_iter: int = 2_000
    """Upper bound on gradient steps."""
    tol: float = 1e-4
    """Stop once max |mu_hat - mu(theta)| < tol."""


@dataclass(frozen=True, eq=False)
class IRLResult:
    """Recovered reward weights and what they imply."""

    theta: np.ndarray
    """Reward weights, shape (d,)."""
    pi: np.ndarray
    """Soft-optimal policy of the recovered reward, shape (S, A)."""
    feature_gap: float
    """max |mu_hat - mu(pi)| at the returned theta."""
    dual: float
    """L(theta) = theta^T mu_hat - init^T V*_theta, the concave objective ascended."""
    iterations: int
    """Gradient steps taken."""


def linear_reward(mdp: FiniteMDP, features: np.ndarray, theta: np.ndarray) -> FiniteMDP:
    """Same dynamics, reward R(s, a) = theta^T phi(s) for every action (zero at terminals)."""
    r = features @ theta
    return mdp.with_reward(np.repeat(r[:, None], mdp.n_actions, axis=1))


def feature_expectations(mdp: FiniteMDP, pi: np.ndarray, features: np.ndarray) -> np.ndarray:
    """mu(pi) = sum_s d^pi(s) phi(s) over states where an action is taken, shape (d,)."""
    return (state_visitation(mdp, pi) * mdp.live) @ features


def empirical_feature_expectations(
    demos: Trajectories, features: np.ndarray, gamma: float
) -> np.ndarray:
    """mu_hat = mean over demos of sum_t gamma^t phi(s_t); demos should be long enough
    that gamma^horizon is negligible, since mu(pi) sums to infinity."""
    return discounted_feature_sums(demos, features, gamma).mean(axis=0)


def maxent_irl(
    mdp: FiniteMDP,
    features: np.ndarray,
    demos: Trajectories,
    config: MaxEntIRLConfig = MaxEntIRLConfig(),
) -> IRLResult:
    """Recover theta by gradient ascent on L(theta); ``mdp``'s own reward is ignored."""
    alpha = check_alpha(config.alpha)
    if features.ndim != 2 or features.shape[0] != mdp.n_states:
        raise ValueError(f"features must have shape (S, d) with S={mdp.n_states}, got {features.shape}")
    mu_hat = empirical_feature_expectations(demos, features, mdp.gamma)
    theta = np.zeros(features.shape[1])
    for it in range(config.max_iter + 1):
        learner = linear_reward(mdp, features, theta)
        sol = soft_policy_iteration(learner, alpha)
        grad = mu_hat - feature_expectations(learner, sol.pi, features)
        if np.abs(grad).max() < config.tol or it == config.max_iter:
            break
        theta = theta + config.lr * grad
    dual = float(theta @ mu_hat - mdp.init @ sol.V)
    return IRLResult(theta, sol.pi, float(np.abs(grad).max()), dual, it)
