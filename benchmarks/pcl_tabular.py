"""Tabular PCL (Nachum et al. 2017): max |V - V*| over training, deterministic vs stochastic MDP.

Both MDPs have 5 states, 3 actions, gamma 0.9, N(0, 1) rewards and a uniform start; alpha = 1;
V starts at 0 (|V*| ~ 15). Deterministic: successors drawn uniformly (``deterministic_mdp``,
seed 0). Stochastic: Dirichlet(1) transition rows (``random_mdp``, seed 0). Each column is one
learner setting (window length d, share epsilon of uniform actions in the rollouts; always one
replayed batch per on-policy batch); each row one point of training.

On the stochastic MDP the sampled loss E[C^2] = E[C]^2 + Var[C] is not minimised at (V*, pi*).
For d = 1 and uniform behaviour (epsilon = 1) the data distribution does not depend on the
learner, so its fixed point is the minimiser of the exact expected loss, computed here with
L-BFGS: the printed bias is that minimiser's distance to V*, next to where sampling goes when
started exactly at (V*, pi*) (V averaged over the second half of training, to remove the
constant-step noise).

    python benchmarks/pcl_tabular.py
"""

from __future__ import annotations

import time

import numpy as np
from _common import count, non_negative, positive
from scipy.optimize import minimize

from agents.tabular import (
    FiniteMDP,
    PCLConfig,
    deterministic_mdp,
    path_consistency_learning,
    random_mdp,
    soft_value,
    soft_value_iteration,
)
from run import OneLineParser

SETTINGS = [(1, 0.2), (2, 0.0), (2, 0.2), (4, 0.2), (1, 1.0)]
"""(d, epsilon) of each column."""


def trace_errors(mdp: FiniteMDP, alpha: float, iterations: int, every: int, seed: int):
    """max |V - V*| at every trace point (rows) for each setting (columns), and seconds per run."""
    v_star = soft_value_iteration(mdp, alpha).V
    errors, seconds = [], []
    for d, epsilon in SETTINGS:
        start = time.perf_counter()
        config = PCLConfig(d=d, n_iterations=iterations, epsilon=epsilon, trace_every=every)
        result = path_consistency_learning(mdp, alpha, np.random.default_rng(seed), config)
        seconds.append(time.perf_counter() - start)
        errors.append(np.abs(result.v_trace - v_star).max(axis=1))
    return np.array(errors).T, seconds


def expected_loss_minimiser(mdp: FiniteMDP, alpha: float, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """argmin over (V, theta) of E[0.5 C^2] for d = 1, uniform actions, windows starting at
    t < horizon of episodes from ``init``: E[C^2 | s, a] = E[C | s, a]^2 + gamma^2 Var_s'[V(s')]."""
    S, A = mdp.R.shape
    P_b = mdp.P.mean(axis=1)
    rho, law = np.zeros(S), mdp.init.copy()
    for _ in range(horizon):
        rho, law = rho + law, law @ P_b
    rho /= rho.sum()

    def loss(x: np.ndarray) -> float:
        v, theta = x[:S], x[S:].reshape(S, A)
        log_pi = theta - soft_value(theta, 1.0)[:, None]
        mean_c = mdp.R + mdp.gamma * mdp.P @ v - alpha * log_pi - v[:, None]
        var_next = mdp.P @ v**2 - (mdp.P @ v) ** 2
        return 0.5 * float(np.sum(rho[:, None] / A * (mean_c**2 + mdp.gamma**2 * var_next)))

    star = soft_value_iteration(mdp, alpha)
    x0 = np.concatenate([star.V, np.log(star.pi).ravel()])
    res = minimize(loss, x0, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000})
    theta = res.x[S:].reshape(S, A)
    return res.x[:S], np.exp(theta - soft_value(theta, 1.0)[:, None])


def print_table(title: str, errors: np.ndarray, every: int, seconds: list[float]) -> None:
    print(f"\n{title}: max |V - V*| after each round (on-policy batch + replayed batch)")
    print(f"{'round':>6} " + " ".join(f"{f'd={d},eps={e}':>13}" for d, e in SETTINGS))
    for i, row in enumerate(errors):
        print(f"{(i + 1) * every:>6} " + " ".join(f"{x:>13.2e}" for x in row))
    print(f"{'s/run':>6} " + " ".join(f"{s:>13.1f}" for s in seconds))


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=count, default=6000)
    p.add_argument("--every", type=count, default=500, help="rounds between printed rows")
    p.add_argument("--alpha", type=positive, default=1.0)
    p.add_argument("--seed", type=non_negative, default=0, help="learner seed (the MDPs use seed 0)")
    a = p.parse_args()
    det = deterministic_mdp(5, 3, 0.9, np.random.default_rng(0))
    sto = random_mdp(5, 3, 0.9, np.random.default_rng(0))
    errors, seconds = trace_errors(det, a.alpha, a.iterations, a.every, a.seed)
    print_table("deterministic MDP", errors, a.every, seconds)
    errors, seconds = trace_errors(sto, a.alpha, a.iterations, a.every, a.seed)
    print_table("stochastic MDP", errors, a.every, seconds)

    star = soft_value_iteration(sto, a.alpha)
    v_star = star.V
    v_bias, pi_bias = expected_loss_minimiser(sto, a.alpha, PCLConfig().horizon)
    config = PCLConfig(d=1, n_iterations=a.iterations, epsilon=1.0, trace_every=10)
    trace = path_consistency_learning(sto, a.alpha, np.random.default_rng(a.seed), config,
                                      theta0=np.log(star.pi), v0=star.V).v_trace
    v_avg = trace[len(trace) // 2:].mean(axis=0)
    print("\nstochastic MDP, d=1, uniform behaviour (eps=1), started at (V*, pi*):")
    rows = [("V*", v_star), ("argmin E[0.5 C^2], exact", v_bias), ("sampled PCL, averaged", v_avg)]
    for name, v in rows:
        print(f"  {name:<26} {np.round(v, 4)}   max |. - V*| = {np.abs(v - v_star).max():.4f}")
    print(f"  max |sampled - argmin| = {np.abs(v_avg - v_bias).max():.4f}; "
          f"policy at the argmin: max |pi - pi*| = {np.abs(pi_bias - star.pi).max():.4f}")


if __name__ == "__main__":
    main()
