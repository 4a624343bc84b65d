"""REPS (Peters et al. 2010): the exact step on a gridworld against an LP / enumeration, and
episodic REPS on an LQR against the Riccati solution."""

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from agents.tabular import (
    ETA_MIN,
    average_reward,
    bellman_error,
    double_integrator,
    episodic_dual,
    episodic_reps,
    episodic_weights,
    gridworld,
    lqr_cost,
    lqr_optimal,
    reps_dual,
    reps_iteration,
    reps_step,
    restart_at_terminal,
    stationary_distribution,
)


@pytest.fixture(scope="module")
def grid():
    """6 states, slip 0.1, the goal restarting the episode: one recurrent class, aperiodic."""
    return restart_at_terminal(gridworld(["S..", "..G"], slip=0.1).mdp)


def uniform_q(P, R):
    pi = np.full(R.shape, 1.0 / R.shape[1])
    return stationary_distribution(P, pi)[:, None] * pi


def lp_optimal_average_reward(P, R) -> float:
    """max_mu sum mu R over stationary state-action distributions (the average-reward LP)."""
    S, A = R.shape
    flow = np.repeat(np.eye(S), A, axis=1) - P.reshape(S * A, S).T  # out(s') - in(s')
    res = linprog(-R.ravel(), A_eq=np.vstack([flow, np.ones(S * A)]),
                  b_eq=np.concatenate([np.zeros(S), [1.0]]), bounds=(0, None), method="highs")
    assert res.status == 0
    return -res.fun


def enumerated_optimal_average_reward(P, R) -> float:
    """Best average reward over all A^S deterministic policies; stationary law by eigenvector."""
    S, A = R.shape
    best = -np.inf
    for actions in itertools.product(range(A), repeat=S):
        P_pi = P[np.arange(S), actions]
        vals, vecs = np.linalg.eig(P_pi.T)
        d = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
        best = max(best, float(d / d.sum() @ R[np.arange(S), actions]))
    return best


def test_optimal_average_reward_by_lp_and_enumeration_agree(grid):
    P, R = grid
    assert lp_optimal_average_reward(P, R) == pytest.approx(enumerated_optimal_average_reward(P, R), abs=1e-9)


def test_dual_gradient_matches_finite_differences(grid):
    P, R = grid
    q = uniform_q(P, R)
    x = np.concatenate([[0.3], np.random.default_rng(0).normal(size=P.shape[0])])
    _, grad = reps_dual(x, P, R, q, 0.2)
    h = 1e-6
    fd = [(reps_dual(x + h * e, P, R, q, 0.2)[0] - reps_dual(x - h * e, P, R, q, 0.2)[0]) / (2 * h)
          for e in np.eye(len(x))]
    np.testing.assert_allclose(grad, fd, atol=1e-7)
    returns = np.array([0.0, -1.0, -3.0])
    _, dg = episodic_dual(0.7, returns, 0.2)
    fd = (episodic_dual(0.7 + h, returns, 0.2)[0] - episodic_dual(0.7 - h, returns, 0.2)[0]) / (2 * h)
    assert dg == pytest.approx(fd, abs=1e-7)


@pytest.mark.parametrize("epsilon", [0.01, 0.1, 0.5, 1.0])
def test_step_kl_equals_epsilon_when_bound_is_active(grid, epsilon):
    P, R = grid
    q = uniform_q(P, R)
    step = reps_step(P, R, q, epsilon)
    assert step.eta > 1e3 * ETA_MIN  # the bound binds
    kl = float(np.sum(step.mu * np.log(step.mu / q)))
    assert kl == pytest.approx(epsilon, abs=1e-4)
    # mu is the closed-form solution and stationary (the dual's V-gradient vanished).
    mu = q * np.exp(bellman_error(P, R, step.v) / step.eta)
    np.testing.assert_allclose(step.mu, mu / mu.sum(), atol=1e-10)
    np.testing.assert_allclose(step.mu.sum(axis=1), np.einsum("sa,sat->t", step.mu, P), atol=1e-6)
    # Improvement: q itself is feasible, so the new reward can only be higher.
    assert float(np.sum(step.mu * R)) > float(np.sum(q * R)) + 1e-3


def test_slack_bound_gives_the_lp_optimum(grid):
    # Past the KL of the best stationary distribution (~1.61 nats here) the bound is slack:
    # eta sits at its floor and the step solves the LP outright.
    P, R = grid
    step = reps_step(P, R, uniform_q(P, R), 5.0)
    assert step.eta < 1e-6 and step.kl < 5.0 - 1.0
    assert float(np.sum(step.mu * R)) == pytest.approx(lp_optimal_average_reward(P, R), abs=1e-4)


def test_iterated_reps_reaches_optimal_average_reward(grid):
    P, R = grid
    rho_star = lp_optimal_average_reward(P, R)
    rho_0 = average_reward(P, R, np.full(R.shape, 0.25))
    pi, history = reps_iteration(P, R, epsilon=0.1, n_iterations=15)
    rho = [rho_0] + [h["reps/average_reward"] for h in history]
    assert rho_star - rho_0 > 0.1  # far to go at the start
    assert np.all(np.diff(rho) > -1e-9)  # monotone improvement
    assert abs(rho[-1] - rho_star) < 1e-3
    assert history[0]["reps/kl"] == pytest.approx(0.1, abs=1e-4)


def test_large_epsilon_approaches_greedy_policy_improvement(grid):
    # Greedy improvement of the uniform policy: argmax_a R(s, a) + sum_s' P(s'|s, a) h(s'),
    # h its bias (h = r_pi - rho + P_pi h, h(0) = 0), solved here by hand.
    P, R = grid
    S, A = R.shape
    pi0 = np.full((S, A), 1.0 / A)
    P_pi, r_pi = np.einsum("sa,sat->st", pi0, P), R.mean(axis=1)
    rho = average_reward(P, R, pi0)
    h = np.linalg.lstsq(np.vstack([np.eye(S) - P_pi, np.eye(S)[:1]]),
                        np.concatenate([r_pi - rho, [0.0]]), rcond=None)[0]
    q_h = R + P @ h
    gaps = []
    for epsilon in (0.01, 0.1, 0.3, 0.6, 1.0, 1.3, 1.6):
        step = reps_step(P, R, uniform_q(P, R), epsilon)
        assert step.kl == pytest.approx(epsilon, abs=1e-4)
        # How much the new policy gives up against greedy, in the worst state.
        gaps.append(float((q_h.max(axis=1) - (step.pi * q_h).sum(axis=1)).max()))
    assert gaps == sorted(gaps, reverse=True)
    assert gaps[0] > 0.3 and gaps[-1] < 1e-3


def test_lqr_cost_matches_rollout_and_riccati():
    lqr = double_integrator()
    K_star, J_star = lqr_optimal(lqr)
    # Sigma0 = I, so J = sum over basis starts e_i of the discounted rollout cost from e_i.
    rollout = 0.0
    for x0 in np.eye(2):
        x = x0
        for t in range(2000):  # 0.95^2000 ~ 1e-45
            u = -K_star @ x
            rollout += lqr.gamma**t * (x @ lqr.Q @ x + u @ lqr.R @ u)
            x = lqr.A @ x + lqr.B @ u
    assert lqr_cost(lqr, K_star) == pytest.approx(rollout, rel=1e-10)
    assert lqr_cost(lqr, K_star) == pytest.approx(J_star, rel=1e-10)
    rng = np.random.default_rng(0)
    others = K_star + 0.1 * rng.normal(size=(20, 1, 2))
    assert np.all(lqr_cost(lqr, others) > J_star)  # K* is optimal among linear gains
    assert lqr_cost(lqr, np.array([[-5.0, -5.0]])) == np.inf  # unstable


def test_episodic_weights_bound_kl_and_drop_infeasible_samples():
    returns = np.array([0.0, -1.0, -2.0, -np.inf, -4.0])
    w, eta, kl = episodic_weights(returns, 0.3)
    assert w[3] == 0.0 and w.sum() == pytest.approx(1.0)
    ok = np.isfinite(returns)
    expected = np.exp(returns[ok] / eta) / np.exp(returns[ok] / eta).sum()
    np.testing.assert_allclose(w[ok], expected, rtol=1e-12)
    assert float(np.sum(w[ok] * np.log(4 * w[ok]))) == pytest.approx(0.3, abs=1e-8)
    assert kl == pytest.approx(0.3, abs=1e-8)
    w, _, kl = episodic_weights(np.full(4, -2.0), 0.3)  # nothing to prefer
    np.testing.assert_allclose(w, 0.25)
    assert kl == pytest.approx(0.0, abs=1e-12)


def test_episodic_reps_reaches_lqr_optimum():
    lqr = double_integrator()
    _, J_star = lqr_optimal(lqr)
    epsilon = 0.5

    def returns(theta):
        return -lqr_cost(lqr, theta.reshape(-1, *lqr.gain_shape))

    # 100 samples: with 30, the weighted ML covariance collapses before the mean arrives in
    # about half the seeds (premature convergence, J(mean) stuck 1-20% above J*).
    mean, cov, history = episodic_reps(returns, np.zeros(2), np.eye(2), epsilon, n_samples=100,
                                       n_iterations=30, rng=np.random.default_rng(0))
    costs = np.array([-h["reps/return_of_mean"] for h in history])
    assert lqr_cost(lqr, np.zeros((1, 2))) > 50 * J_star  # the zero gain is far off
    assert costs[-1] < 1.01 * J_star
    kls = np.array([h["reps/kl"] for h in history])
    assert np.all(kls <= epsilon + 1e-6) and np.all(kls > epsilon - 1e-4)
    assert history[0]["reps/infeasible"] > 0.2  # unstable samples did occur, and were dropped


def one_line_value_error(fn, *match):
    with pytest.raises(ValueError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg and all(m in msg for m in match), msg


@pytest.mark.parametrize("epsilon", [0.0, -0.1, np.inf, np.nan])
def test_bad_kl_bound_raises(grid, epsilon):
    P, R = grid
    q = uniform_q(P, R)
    for fn in (lambda: reps_step(P, R, q, epsilon), lambda: reps_iteration(P, R, epsilon, 1),
               lambda: episodic_weights(np.array([0.0, 1.0]), epsilon),
               lambda: episodic_reps(lambda t: -t.sum(1), np.zeros(1), np.eye(1), epsilon, 4, 1,
                                     np.random.default_rng(0))):
        one_line_value_error(fn, "epsilon (KL bound)", "positive finite", str(float(epsilon)))


def test_bad_transitions_raise(grid):
    P, R = grid
    q = uniform_q(P, R)
    bad = P.copy()
    bad[1, 2] *= 0.9
    one_line_value_error(lambda: reps_step(bad, R, q, 0.1), "P[s, a, :]", "must sum to 1", "(1, 2)")
    one_line_value_error(lambda: reps_iteration(bad, R, 0.1, 1), "P[s, a, :]", "must sum to 1")
    one_line_value_error(lambda: reps_step(P[:, :, :-1], R, q, 0.1), "P must have shape (S, A, S)")
    one_line_value_error(lambda: reps_step(P, R, q * 2.0, 0.1), "q (flattened", "must sum to 1")
