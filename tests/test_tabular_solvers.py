"""Soft VI / soft PI / evaluation / visitation against closed forms, each other and Monte Carlo."""

import numpy as np
import pytest

from agents.tabular import (
    FiniteMDP,
    absorption_probabilities,
    gridworld,
    random_mdp,
    sample_trajectories,
    soft_policy_evaluation,
    soft_policy_iteration,
    soft_rewards,
    soft_value,
    soft_value_iteration,
    state_visitation,
    two_routes_world,
    value_iteration,
)

SOLVERS = [soft_value_iteration, soft_policy_iteration]


def grid_mdp() -> FiniteMDP:
    return gridworld(["S..#", ".#..", "...G"], slip=0.1, step_reward=-0.1, goal_reward=2.0).mdp


def continuing_mdp(seed: int = 0) -> FiniteMDP:
    return random_mdp(6, 3, 0.9, np.random.default_rng(seed))


def bellman_residuals(mdp: FiniteMDP, Q: np.ndarray, V: np.ndarray, pi: np.ndarray, alpha: float):
    """The three soft Bellman equations, written out with explicit sums (no shared code)."""
    S, A = Q.shape
    v_lse = np.array([alpha * np.log(np.sum(np.exp(Q[s] / alpha))) for s in range(S)])
    v_lse[mdp.terminal] = 0.0
    q_rhs = np.array([[mdp.R[s, a] + mdp.gamma * sum(mdp.P[s, a, t] * V[t] for t in range(S))
                       for a in range(A)] for s in range(S)])
    pi_rhs = np.exp(Q / alpha) / np.exp(Q / alpha).sum(axis=1, keepdims=True)
    return np.abs(V - v_lse).max(), np.abs(Q - q_rhs).max(), np.abs(pi - pi_rhs).max()


@pytest.mark.parametrize("solve", SOLVERS)
@pytest.mark.parametrize("make_mdp", [grid_mdp, continuing_mdp])
@pytest.mark.parametrize("alpha", [0.1, 1.0])
def test_fixed_point_satisfies_soft_bellman(solve, make_mdp, alpha):
    mdp = make_mdp()
    sol = solve(mdp, alpha)
    assert sol.residual < 1e-9
    assert max(bellman_residuals(mdp, sol.Q, sol.V, sol.pi, alpha)) < 1e-8
    np.testing.assert_array_equal(sol.V[mdp.terminal], 0.0)


def test_soft_value_is_stable_for_tiny_alpha():
    q = np.array([[1.0, 0.5, -3.0], [2.0, 2.0, 0.0]])
    v = soft_value(q, 1e-4)
    assert np.all(np.isfinite(v))
    # Exact: the max plus alpha * log(number of tied maxima) (other terms underflow to 0).
    np.testing.assert_allclose(v, [1.0, 2.0 + 1e-4 * np.log(2.0)], rtol=0, atol=1e-15)


@pytest.mark.parametrize("make_mdp", [grid_mdp, continuing_mdp])
def test_small_alpha_approaches_hard_value_iteration(make_mdp):
    mdp = make_mdp()
    hard = value_iteration(mdp)
    assert hard.residual < 1e-9
    gaps = []
    for alpha in [1e-1, 1e-2, 1e-3, 1e-4]:
        soft = soft_value_iteration(mdp, alpha)
        gap = soft.V - hard.V
        # Sandwich V_hard <= V_soft <= V_hard + alpha log A / (1 - gamma): the soft backup
        # exceeds max by at most alpha log A per step.
        assert gap.min() > -1e-9
        assert gap.max() <= alpha * np.log(mdp.n_actions) / (1 - mdp.gamma) + 1e-9
        gaps.append(np.abs(gap).max())
    assert gaps[-1] < 1e-3 and gaps == sorted(gaps, reverse=True)
    assert np.all(soft.pi.argmax(axis=1) == hard.Q.argmax(axis=1))


def test_large_alpha_approaches_uniform_policy():
    mdp = continuing_mdp()
    deviations = [np.abs(soft_value_iteration(mdp, a).pi - 1 / 3).max() for a in [1, 10, 100, 1000]]
    assert deviations == sorted(deviations, reverse=True)
    assert deviations[-1] < 1e-3 and deviations[0] > 0.05


@pytest.mark.parametrize("make_mdp", [grid_mdp, continuing_mdp])
@pytest.mark.parametrize("alpha", [0.05, 0.5, 5.0])
def test_soft_policy_iteration_agrees_with_soft_value_iteration(make_mdp, alpha):
    mdp = make_mdp()
    vi, pi = soft_value_iteration(mdp, alpha), soft_policy_iteration(mdp, alpha)
    np.testing.assert_allclose(pi.Q, vi.Q, rtol=0, atol=1e-6)
    np.testing.assert_allclose(pi.pi, vi.pi, rtol=0, atol=1e-6)
    assert pi.iterations < 20  # Newton-like: far fewer rounds than VI sweeps
    # Soft evaluation of the soft-optimal policy reproduces V* (a consistency check on both).
    _, v = soft_policy_evaluation(mdp, vi.pi, alpha)
    np.testing.assert_allclose(v, vi.V, rtol=0, atol=1e-7)


@pytest.mark.parametrize("make_mdp", [grid_mdp, continuing_mdp])
def test_soft_policy_evaluation_matches_monte_carlo(make_mdp):
    mdp, alpha, n = make_mdp(), 0.7, 4000
    rng = np.random.default_rng(1)
    pi = rng.dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
    _, v = soft_policy_evaluation(mdp, pi, alpha)
    traj = sample_trajectories(mdp, pi, n, horizon=250, rng=rng)  # 0.95^250 ~ 3e-6
    x = soft_rewards(traj, np.log(pi), alpha)
    returns = x @ mdp.gamma ** np.arange(x.shape[1])
    se = returns.std(ddof=1) / np.sqrt(n)
    assert abs(returns.mean() - mdp.init @ v) < 3 * se
    assert se < 0.05 * abs(mdp.init @ v)  # the test has teeth: SE is small next to V


@pytest.mark.parametrize("solve", SOLVERS)
def test_single_state_closed_form(solve):
    # One state, two self-loops with rewards r1, r2: V = alpha log(e^(r1/a) + e^(r2/a)) / (1-g).
    r1, r2, gamma, alpha = 1.0, 0.0, 0.9, 0.5
    mdp = FiniteMDP(np.ones((1, 2, 1)), np.array([[r1, r2]]), gamma, np.ones(1))
    sol = solve(mdp, alpha)
    assert sol.V[0] == pytest.approx(5.0 * np.log(1.0 + np.e**2), abs=1e-8)  # = 10.63464...
    assert sol.V[0] == pytest.approx(10.634640055214863, abs=1e-8)
    assert sol.pi[0, 0] == pytest.approx(np.e**2 / (1.0 + np.e**2), abs=1e-10)  # sigmoid(2)
    # Uniform policy by hand: V = (mean reward + alpha log 2) / (1 - gamma).
    _, v = soft_policy_evaluation(mdp, np.full((1, 2), 0.5), alpha)
    assert v[0] == pytest.approx((0.5 + 0.5 * np.log(2.0)) / 0.1, abs=1e-10)


@pytest.mark.parametrize("solve", SOLVERS)
def test_two_state_episode_closed_form(solve):
    # State 0 has two actions, both ending the episode (state 1 is terminal): no future
    # entropy, so V(0) = log(e^1 + e^0) = 1.31326..., V(1) = 0.
    P = np.zeros((2, 2, 2))
    P[:, :, 1] = 1.0
    mdp = FiniteMDP(P, np.array([[1.0, 0.0], [0.0, 0.0]]), 0.9, np.array([1.0, 0.0]))
    sol = solve(mdp, 1.0)
    np.testing.assert_allclose(sol.V, [1.3132616875182228, 0.0], atol=1e-9)
    np.testing.assert_allclose(sol.Q, [[1.0, 0.0], [0.0, 0.0]], atol=1e-9)


def test_two_routes_soft_splits_hard_commits():
    grid = two_routes_world(half_length=3, slip=0.1)
    left, right = grid.state(0, 0), grid.state(0, 6)
    soft = soft_value_iteration(grid.mdp, 0.1)
    p_soft = absorption_probabilities(grid.mdp, soft.pi)
    assert p_soft[left] + p_soft[right] == pytest.approx(1.0)
    assert 0.45 <= p_soft[left] <= 0.55
    hard = value_iteration(grid.mdp)
    p_hard = absorption_probabilities(grid.mdp, hard.pi)
    assert max(p_hard[left], p_hard[right]) > 0.9  # only slips reach the other goal
    # The sampled split agrees with the absorbing-chain solve.
    traj = sample_trajectories(grid.mdp, soft.pi, 4000, 200, np.random.default_rng(0))
    ended_left = traj.states[:, -1] == left
    assert abs(ended_left.mean() - p_soft[left]) < 3 * np.sqrt(0.25 / 4000)
    assert np.all(np.isin(traj.states[:, -1], [left, right]))


@pytest.mark.parametrize("make_mdp", [grid_mdp, continuing_mdp])
def test_state_visitation_three_ways(make_mdp):
    mdp = make_mdp()
    pi = soft_value_iteration(mdp, 0.5).pi
    d = state_visitation(mdp, pi)
    d_series = state_visitation(mdp, pi, horizon=600)  # power series, gamma^600 ~ 0
    np.testing.assert_allclose(d, d_series, atol=1e-10)
    if not mdp.terminal.any():
        assert d.sum() == pytest.approx(1.0 / (1.0 - mdp.gamma))
    n = 3000
    traj = sample_trajectories(mdp, pi, n, 200, np.random.default_rng(2))
    weights = mdp.gamma ** np.arange(201)
    counts = np.stack([((traj.states == s) * weights).sum(axis=1) for s in range(mdp.n_states)], 1)
    # A terminal state counts once, at arrival, but the sampled chain then sits on it.
    for g in np.flatnonzero(mdp.terminal):
        at_g = traj.states == g
        counts[:, g] = np.where(at_g.any(axis=1), weights[at_g.argmax(axis=1)], 0.0)
    se = counts.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(counts.mean(axis=0) - d) < 4 * se + 1e-12)
