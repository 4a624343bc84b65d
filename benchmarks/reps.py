"""REPS (Peters, Muelling & Altun 2010): how fast it gets to the optimum, exactly measured.

1. Step-based REPS on gridworlds (slip 0.1, the goal restarting the episode, so the MDP is
   continuing): average reward of each iterate against the optimum of the average-reward LP,
   with the KL of each step and its temperature eta. Starts from the uniform policy.
2. Episodic REPS on the 2-D double-integrator LQR (discounted, infinite horizon, gamma 0.95,
   noise-free; the gain K is 1x2): cost J(mean) of the search distribution's mean against the
   Riccati optimum J*, with the sample KL (bounded by epsilon), the KL between successive
   Gaussians (not bounded) and the fraction of sampled gains that were unstable (dropped);
   then J(mean)/J* after the last update over several seeds and sample sizes, since the
   weighted ML covariance can shrink before the mean arrives (premature convergence).

    python benchmarks/reps.py
"""

from __future__ import annotations

import numpy as np
from _common import count, non_negative, positive
from scipy.optimize import linprog

from agents.tabular import (
    average_reward,
    double_integrator,
    episodic_reps,
    gridworld,
    lqr_cost,
    lqr_optimal,
    reps_iteration,
    restart_at_terminal,
)
from run import OneLineParser

LAYOUTS = {"2x3": ["S..", "..G"], "3x4": ["S...", ".#..", "...G"]}


def lp_optimal_average_reward(P: np.ndarray, R: np.ndarray) -> float:
    """max_mu sum mu R over stationary state-action distributions mu."""
    S, A = R.shape
    flow = np.repeat(np.eye(S), A, axis=1) - P.reshape(S * A, S).T
    res = linprog(-R.ravel(), A_eq=np.vstack([flow, np.ones(S * A)]),
                  b_eq=np.concatenate([np.zeros(S), [1.0]]), bounds=(0, None), method="highs")
    return -res.fun


def gridworld_table(name: str, epsilon: float, iterations: int) -> None:
    P, R = restart_at_terminal(gridworld(LAYOUTS[name], slip=0.1).mdp)
    rho_star = lp_optimal_average_reward(P, R)
    rho_0 = average_reward(P, R, np.full(R.shape, 1.0 / R.shape[1]))
    _, history = reps_iteration(P, R, epsilon, iterations)
    print(f"\ngridworld {name} ({P.shape[0]} states), epsilon={epsilon}, optimum rho*={rho_star:.6f}")
    print(f"{'iter':>4} {'rho':>9} {'rho*-rho':>10} {'KL':>9} {'eta':>9}")
    print(f"{0:>4} {rho_0:>9.6f} {rho_star - rho_0:>10.2e} {'':>9} {'':>9}")
    for i, h in enumerate(history, 1):
        rho = h["reps/average_reward"]
        print(f"{i:>4} {rho:>9.6f} {rho_star - rho:>10.2e} {h['reps/kl']:>9.6f} {h['reps/eta']:>9.2e}")


def lqr_table(epsilon: float, n_samples: int, iterations: int, seed: int) -> None:
    lqr = double_integrator()
    K_star, J_star = lqr_optimal(lqr)

    def returns(theta: np.ndarray) -> np.ndarray:
        return -lqr_cost(lqr, theta.reshape(-1, *lqr.gain_shape))

    mean, _, history = episodic_reps(returns, np.zeros(2), np.eye(2), epsilon, n_samples, iterations,
                                     np.random.default_rng(seed))
    print(f"\nLQR double integrator: K*={np.round(K_star.ravel(), 4)}, J*={J_star:.6f}, "
          f"J(0)={lqr_cost(lqr, np.zeros((1, 2))):.2f}; epsilon={epsilon}, N={n_samples}, seed={seed}")
    print(f"{'iter':>4} {'J(mean)/J*':>11} {'KL(w)':>9} {'KL(gauss)':>9} {'unstable':>8} {'eta':>9}")
    for i, h in enumerate(history, 1):
        print(f"{i:>4} {-h['reps/return_of_mean'] / J_star:>11.6f} {h['reps/kl']:>9.6f} "
              f"{h['reps/kl_gaussian']:>9.3f} {h['reps/infeasible']:>8.2f} {h['reps/eta']:>9.2e}")
    print(f"final mean {np.round(mean, 4)}")


def lqr_seed_summary(epsilon: float, iterations: int, seeds: int, sample_sizes: list[int]) -> None:
    lqr = double_integrator()
    _, J_star = lqr_optimal(lqr)

    def returns(theta: np.ndarray) -> np.ndarray:
        return -lqr_cost(lqr, theta.reshape(-1, *lqr.gain_shape))

    print(f"\nLQR over seeds 0..{seeds - 1}: J(mean)/J* after {iterations} updates, epsilon={epsilon}")
    print(f"{'N':>5} {'median':>9} {'worst':>9} {'> 1.01':>7}")
    for n in sample_sizes:
        ratios = [lqr_cost(lqr, episodic_reps(returns, np.zeros(2), np.eye(2), epsilon, n, iterations,
                                              np.random.default_rng(seed))[0].reshape(1, 2)) / J_star
                  for seed in range(seeds)]
        print(f"{n:>5} {np.median(ratios):>9.5f} {max(ratios):>9.5f} {sum(r > 1.01 for r in ratios):>7}")


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--epsilon", type=positive, default=0.1, help="KL bound of the gridworld steps")
    p.add_argument("--iterations", type=count, default=12)
    p.add_argument("--lqr-epsilon", type=positive, default=0.5)
    p.add_argument("--lqr-samples", type=count, default=100)
    p.add_argument("--lqr-iterations", type=count, default=30)
    p.add_argument("--seed", type=non_negative, default=0)
    p.add_argument("--seeds", type=count, default=20, help="seeds in the LQR summary")
    a = p.parse_args()
    for name in LAYOUTS:
        gridworld_table(name, a.epsilon, a.iterations)
    lqr_table(a.lqr_epsilon, a.lqr_samples, a.lqr_iterations, a.seed)
    lqr_seed_summary(a.lqr_epsilon, a.lqr_iterations, a.seeds, [30, a.lqr_samples])


if __name__ == "__main__":
    main()
