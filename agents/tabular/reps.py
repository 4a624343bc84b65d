"""Relative Entropy Policy Search (Peters, Muelling & Altun 2010, AAAI), exact on finite MDPs,
and its episodic (parameter-space) form with a Gaussian search distribution.

Step-based REPS, average reward (the paper's setting): with q the old stationary state-action
distribution, the new one solves
    max_mu sum mu(s, a) R(s, a)   s.t.   KL(mu || q) <= epsilon,   sum mu = 1,
                                         sum_a mu(s', a) = sum_{s, a} mu(s, a) P(s'|s, a).
Its Lagrangian dual in (eta, V), V the multipliers of the stationarity constraint, is
    g(eta, V) = eta epsilon + eta log sum_{s, a} q(s, a) exp(delta_V(s, a) / eta),
    delta_V(s, a) = R(s, a) + sum_s' P(s'|s, a) V(s') - V(s)     (a Bellman error),
and the primal solution is mu(s, a) ∝ q(s, a) exp(delta_V(s, a) / eta), pi(a|s) ∝ mu(s, a).
dg/deta = epsilon - KL(mu || q): wherever the bound binds (eta > 0), the step moves exactly
epsilon nats. Rewards carry no discount and there are no terminal states here: the MDP must be
unichain, e.g. ``restart_at_terminal`` of an episodic gridworld.

Episodic REPS (below ``reps_iteration``) applies the same bound to a Gaussian search
distribution over policy parameters, from samples; ``lqr.py`` holds its test problem, which
has a closed-form optimum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

from agents.tabular.mdp import FiniteMDP, check_distribution_rows

ETA_MIN = 1e-9
"""Lower bound on the temperature eta in L-BFGS-B; eta stays there when the bound is slack."""


def check_kl_bound(epsilon: float) -> float:
    """KL bounds must be positive: epsilon = 0 forbids any change, a negative one is infeasible."""
    epsilon = float(epsilon)
    if not (np.isfinite(epsilon) and epsilon > 0.0):
        raise ValueError(f"epsilon (KL bound) must be a positive finite number, got {epsilon}")
    return epsilon


def check_average_reward_mdp(P: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (P, R) as float64 after checking P is (S, A, S) row-stochastic and R is (S, A)."""
    P, R = np.asarray(P, dtype=np.float64), np.asarray(R, dtype=np.float64)
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ValueError(f"P must have shape (S, A, S), got {P.shape}")
    if R.shape != P.shape[:2]:
        raise ValueError(f"R must have shape (S, A) = {P.shape[:2]}, got {R.shape}")
    check_distribution_rows(P, "P[s, a, :]")
    if not np.all(np.isfinite(R)):
        raise ValueError("R contains non-finite entries")
    return P, R


def restart_at_terminal(mdp: FiniteMDP) -> tuple[np.ndarray, np.ndarray]:
    """A continuing (P, R) from an episodic MDP: every action in a terminal state restarts the
    episode from ``init`` for zero reward, so average reward = reward per episode / its length+1."""
    P = mdp.P.copy()
    P[mdp.terminal] = mdp.init
    return P, mdp.R.copy()


def bellman_error(P: np.ndarray, R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """delta_V(s, a) = R(s, a) + sum_s' P(s'|s, a) V(s') - V(s), shape (S, A)."""
    return R + P @ v - v[:, None]


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) = sum p log(p / q) over all entries, with 0 log 0 = 0."""
    mask = p > 0.0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def reps_dual(
    x: np.ndarray, P: np.ndarray, R: np.ndarray, q: np.ndarray, epsilon: float
) -> tuple[float, np.ndarray]:
    """g(eta, V) and its gradient at x = (eta, V_0 .. V_S-1).

    With w = the normalised q exp(delta / eta): dg/deta = epsilon + log Z - E_w[delta] / eta
    (= epsilon - KL(w || q)) and dg/dV(j) = E_w[P(j|s, a)] - w(j) (stationarity of w).
    The largest exponent is pulled out, so small eta does not overflow.
    """
    eta, v = x[0], x[1:]
    support = q > 0.0  # mu << q: mass cannot appear where q has none
    z = np.where(support, bellman_error(P, R, v) / eta, -np.inf)
    m = z[support].max()
    e = np.where(support, q * np.exp(z - m), 0.0)
    log_z = m + np.log(e.sum())
    w = e / e.sum()
    d_eta = epsilon + log_z - float(np.sum(w[support] * z[support]))
    d_v = np.einsum("sa,sat->t", w, P) - w.sum(axis=1)
    return eta * (epsilon + log_z), np.concatenate([[d_eta], d_v])


class REPSStep(NamedTuple):
    """One REPS update and how well its dual was solved."""

    mu: np.ndarray
    """New state-action distribution mu(s, a), shape (S, A)."""
    pi: np.ndarray
    """New policy mu(s, a) / sum_b mu(s, b), shape (S, A); uniform where mu(s, .) = 0."""
    eta: float
    """Temperature at the dual optimum (ETA_MIN when the KL bound is slack)."""
    v: np.ndarray
    """Dual variables of stationarity: the relative (bias) values, shape (S,)."""
    kl: float
    """KL(mu || q) of the step."""
    stationarity: float
    """max_s' |sum_a mu(s', a) - sum_{s, a} mu(s, a) P(s'|s, a)|: 0 if the dual was solved."""


def check_state_action_distribution(q: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return q as float64 after checking it is a distribution over (S, A) pairs."""
    q = np.asarray(q, dtype=np.float64)
    if q.shape != shape:
        raise ValueError(f"q must have shape (S, A) = {shape}, got {q.shape}")
    check_distribution_rows(q.ravel(), "q (flattened over (s, a))")
    return q


def reps_step(
    P: np.ndarray, R: np.ndarray, q: np.ndarray, epsilon: float, v0: np.ndarray | None = None
) -> REPSStep:
    """One exact REPS step from the state-action distribution q: minimise g(eta, V) with
    L-BFGS-B (eta > 0, analytic gradient), then mu ∝ q exp(delta_V / eta).

    When epsilon exceeds the KL of the best stationary mu on q's support the bound is slack:
    eta sits at ETA_MIN and the step is that LP optimum, but g is then nearly a max of affine
    functions and L-BFGS solves it less tightly (``stationarity`` says how well)."""
    epsilon = check_kl_bound(epsilon)
    P, R = check_average_reward_mdp(P, R)
    q = check_state_action_distribution(q, R.shape)
    S = P.shape[0]
    v0 = np.zeros(S) if v0 is None else np.asarray(v0, dtype=np.float64)
    # eta0 from the small-epsilon expansion KL ~ Var_q(delta) / (2 eta^2) at V = v0.
    delta = bellman_error(P, R, v0)
    eta0 = max(np.sqrt(np.sum(q * (delta - np.sum(q * delta)) ** 2) / (2.0 * epsilon)), 1e-3)
    res = minimize(
        reps_dual, np.concatenate([[eta0], v0]), args=(P, R, q, epsilon), jac=True,
        method="L-BFGS-B", bounds=[(ETA_MIN, None)] + [(None, None)] * S,
        options={"ftol": 0.0, "gtol": 1e-12, "maxiter": 20_000, "maxcor": 50},
    )
    eta, v = float(res.x[0]), res.x[1:]
    z = np.where(q > 0.0, bellman_error(P, R, v) / eta, -np.inf)
    mu = np.where(q > 0.0, q * np.exp(z - z.max()), 0.0)
    mu /= mu.sum()
    mass = mu.sum(axis=1, keepdims=True)
    pi = np.where(mass > 0.0, mu / np.where(mass > 0.0, mass, 1.0), 1.0 / R.shape[1])
    residual = float(np.abs(mu.sum(axis=1) - np.einsum("sa,sat->t", mu, P)).max())
    return REPSStep(mu, pi, eta, v, kl_divergence(mu, q), residual)


def stationary_distribution(P: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """d(s) with d P_pi = d, sum d = 1, for a unichain P_pi (one least-squares solve)."""
    P_pi = np.einsum("sa,sat->st", pi, P)
    S = P_pi.shape[0]
    A = np.vstack([P_pi.T - np.eye(S), np.ones((1, S))])
    d, *_ = np.linalg.lstsq(A, np.concatenate([np.zeros(S), [1.0]]), rcond=None)
    return np.clip(d, 0.0, None) / np.clip(d, 0.0, None).sum()


def average_reward(P: np.ndarray, R: np.ndarray, pi: np.ndarray) -> float:
    """rho(pi) = sum_s d_pi(s) sum_a pi(a|s) R(s, a)."""
    return float(stationary_distribution(P, pi) @ (pi * R).sum(axis=1))


def reps_iteration(
    P: np.ndarray, R: np.ndarray, epsilon: float, n_iterations: int, pi0: np.ndarray | None = None
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Iterate exact REPS from pi0 (default uniform). Each step starts from q = d_pi(s) pi(a|s),
    the stationary distribution of the current policy: the dual's mu is stationary for its own
    pi only up to the solver's tolerance, and recomputing q stops that error from compounding.
    Returns the last policy and one metrics dict per step."""
    P, R = check_average_reward_mdp(P, R)
    pi = np.full(R.shape, 1.0 / R.shape[1]) if pi0 is None else np.asarray(pi0, dtype=np.float64)
    v, history = None, []
    for _ in range(n_iterations):
        q = stationary_distribution(P, pi)[:, None] * pi
        step = reps_step(P, R, q, epsilon, v0=v)
        pi, v = step.pi, step.v
        history.append({
            "reps/average_reward": average_reward(P, R, pi),
            "reps/kl": step.kl,
            "reps/eta": step.eta,
            "reps/stationarity": step.stationarity,
        })
    return pi, history


# Episodic REPS (Peters et al. 2010 in parameter space, as in Deisenroth, Neumann & Peters
# 2013, "A Survey on Policy Search for Robotics"): one "action" is a whole policy parameter
# vector theta drawn from a Gaussian, and its return R(theta) is the reward.


def episodic_dual(eta: float, returns: np.ndarray, epsilon: float) -> tuple[float, float]:
    """g(eta) = eta epsilon + eta log mean_i exp(R_i / eta) and dg/deta = epsilon - KL(w || 1/N),
    over finite returns R (N,); the largest exponent is pulled out, so small eta cannot overflow."""
    z = returns / eta
    m = z.max()
    e = np.exp(z - m)
    log_mean = m + np.log(e.mean())
    w = e / e.sum()
    return eta * (epsilon + log_mean), epsilon + log_mean - float(w @ z)


def episodic_weights(returns: np.ndarray, epsilon: float) -> tuple[np.ndarray, float, float]:
    """Sample weights w_i ∝ exp(R_i / eta), eta minimising the dual (L-BFGS-B, eta > 0).

    A return of -inf (e.g. an unstable gain) marks a sample outside the problem's domain: it
    gets weight 0 and the KL is taken against the uniform distribution on the other samples.
    Counting it in that uniform distribution would put a floor of log(N / N_finite) under the
    KL, above epsilon once enough samples fail. Returns (w, eta, KL(w || uniform)). The KL
    equals epsilon except where the bound cannot bind: all returns equal (w uniform, KL 0) or
    epsilon >= log N_finite (all weight on the best sample).
    """
    epsilon = check_kl_bound(epsilon)
    returns = np.asarray(returns, dtype=np.float64)
    if np.any(np.isnan(returns) | (returns == np.inf)):
        raise ValueError("returns must be finite or -inf (an infeasible sample); got nan or +inf")
    ok = returns > -np.inf
    if not ok.any():
        raise ValueError("episodic REPS needs at least one finite return; all were -inf")
    r = returns[ok] - returns[ok].max()  # the dual is shift-invariant in eta's minimiser
    # ... and scale-equivariant: starting eta at the spread keeps the exponents O(1).
    eta0 = max(float(r.std()), 1e-12)

    def dual(x: np.ndarray) -> tuple[float, np.ndarray]:
        g, dg = episodic_dual(float(x[0]), r, epsilon)
        return g, np.array([dg])

    res = minimize(dual, np.array([eta0]), jac=True, method="L-BFGS-B", bounds=[(ETA_MIN * eta0, None)],
                   options={"ftol": 0.0, "gtol": 1e-12, "maxiter": 1_000})
    eta = float(res.x[0])
    w = np.zeros_like(returns)
    w[ok] = np.exp(r / eta)
    w /= w.sum()
    kl = float(np.sum(w[w > 0] * np.log(ok.sum() * w[w > 0])))
    return w, eta, kl


def weighted_gaussian_fit(theta: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted maximum-likelihood mean and covariance of samples theta (N, d) with weights w."""
    mean = w @ theta
    centred = theta - mean
    return mean, (w[:, None] * centred).T @ centred


def gaussian_kl(mean_p: np.ndarray, cov_p: np.ndarray, mean_q: np.ndarray, cov_q: np.ndarray) -> float:
    """KL(N(mean_p, cov_p) || N(mean_q, cov_q)), closed form; p = new, q = old in REPS.
    inf when either covariance is singular (a collapsed search distribution)."""
    sign_p, logdet_p = np.linalg.slogdet(cov_p)
    sign_q, logdet_q = np.linalg.slogdet(cov_q)
    if sign_p <= 0 or sign_q <= 0:
        return float("inf")
    diff = mean_q - mean_p
    trace = np.trace(np.linalg.solve(cov_q, cov_p))
    return 0.5 * float(trace + diff @ np.linalg.solve(cov_q, diff) - len(mean_p) + logdet_q - logdet_p)


def episodic_reps(
    objective: Callable[[np.ndarray], np.ndarray],
    mean: np.ndarray,
    cov: np.ndarray,
    epsilon: float,
    n_samples: int,
    n_iterations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]]]:
    """Episodic REPS: sample theta_i ~ N(mean, cov), weight by exp(R_i / eta), refit the
    Gaussian by weighted ML. ``objective`` maps (N, d) parameters to (N,) returns (to be
    maximised; -inf allowed). Returns the final mean, covariance and one metrics dict per update:
    the sample KL is bounded by epsilon; the Gaussian refit's KL is reported, not bounded."""
    epsilon = check_kl_bound(epsilon)
    mean, cov = np.asarray(mean, dtype=np.float64), np.asarray(cov, dtype=np.float64)
    history = []
    for _ in range(n_iterations):
        theta = rng.multivariate_normal(mean, cov, size=n_samples)
        returns = objective(theta)
        w, eta, kl = episodic_weights(returns, epsilon)
        new_mean, new_cov = weighted_gaussian_fit(theta, w)
        history.append({
            "reps/return_of_mean": float(objective(new_mean[None])[0]),
            "reps/mean_return": float(np.mean(returns[returns > -np.inf])),
            "reps/infeasible": float(np.mean(returns == -np.inf)),
            "reps/kl": kl,
            "reps/kl_gaussian": gaussian_kl(new_mean, new_cov, mean, cov),
            "reps/eta": eta,
            "reps/effective_samples": float(1.0 / np.sum(w**2)),
        })
        mean, cov = new_mean, new_cov
    return mean, cov, history
