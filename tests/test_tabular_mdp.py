"""FiniteMDP validation and the gridworld builders, checked against hand-computed tables."""

import numpy as np
import pytest

from agents.tabular import (
    FiniteMDP,
    absorption_probabilities,
    coordinate_features,
    gridworld,
    onehot_features,
    random_mdp,
    soft_policy_evaluation,
    soft_policy_iteration,
    soft_q_learning,
    soft_value_iteration,
    two_routes_world,
)

UP, RIGHT, DOWN, LEFT = range(4)


def tiny_arrays():
    P = np.zeros((2, 2, 2))
    P[0, 0, 1] = P[0, 1, 0] = P[1, :, 1] = 1.0
    return P, np.array([[1.0, 0.0], [0.0, 0.0]]), 0.9, np.array([1.0, 0.0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda P, R, g, i: (P[0], R, g, i), r"P must have shape \(S, A, S\)"),
        (lambda P, R, g, i: (P[:, :, :1], R, g, i), r"P must have shape \(S, A, S\)"),
        (lambda P, R, g, i: (P, R[:, :1], g, i), r"R must have shape \(S, A\)"),
        (lambda P, R, g, i: (P, R, g, i[:1]), r"init must have shape \(S,\)"),
        (lambda P, R, g, i: (P * 0.5, R, g, i), r"rows must sum to 1; row \(0, 0\) sums to 0.5"),
        (lambda P, R, g, i: (P, R, g, i * 2.0), "init rows must sum to 1"),
        (lambda P, R, g, i: (P - 2.0 * (P == 0), R, g, i), "negative entries"),
        (lambda P, R, g, i: (P, R * np.nan, g, i), "R contains non-finite"),
        (lambda P, R, g, i: (P, R, 1.0, i), r"gamma must lie in \[0, 1\)"),
        (lambda P, R, g, i: (P, R, -0.1, i), r"gamma must lie in \[0, 1\)"),
    ],
)
def test_bad_mdp_inputs_raise(change, message):
    with pytest.raises(ValueError, match=message):
        FiniteMDP(*change(*tiny_arrays()))


def test_terminal_inferred_and_validated():
    P, R, gamma, init = tiny_arrays()
    assert FiniteMDP(P, R, gamma, init).terminal.tolist() == [False, True]
    with pytest.raises(ValueError, match="must be absorbing"):
        FiniteMDP(P, R, gamma, init, terminal=np.array([True, False]))
    R_bad = R.copy()
    R_bad[1, 0] = 1.0
    with pytest.raises(ValueError, match="zero reward"):
        FiniteMDP(P, R_bad, gamma, init, terminal=np.array([False, True]))
    # Absorbing with a nonzero reward is a recurrent state, not a terminal one.
    assert FiniteMDP(P, R_bad, gamma, init).terminal.tolist() == [False, False]


def test_mdp_arrays_are_read_only():
    mdp = FiniteMDP(*tiny_arrays())
    with pytest.raises(ValueError, match="read-only"):
        mdp.R[0, 0] = 5.0


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan")])
def test_nonpositive_alpha_raises(alpha):
    mdp = FiniteMDP(*tiny_arrays())
    for solve in (soft_value_iteration, soft_policy_iteration):
        with pytest.raises(ValueError, match="alpha"):
            solve(mdp, alpha)
    with pytest.raises(ValueError, match="alpha"):
        soft_q_learning(mdp, alpha, np.random.default_rng(0))


def test_bad_policy_raises():
    mdp = FiniteMDP(*tiny_arrays())
    with pytest.raises(ValueError, match=r"pi must have shape \(S, A\)"):
        soft_policy_evaluation(mdp, np.ones((2, 3)) / 3, 1.0)
    with pytest.raises(ValueError, match="pi.* rows must sum to 1"):
        soft_policy_evaluation(mdp, np.ones((2, 2)), 1.0)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        soft_policy_evaluation(mdp, np.ones((2, 2)) / 2, -1.0)


def test_absorption_needs_terminal_states():
    mdp = random_mdp(3, 2, 0.9, np.random.default_rng(0))
    with pytest.raises(ValueError, match="terminal states"):
        absorption_probabilities(mdp, np.full((3, 2), 0.5))


@pytest.mark.parametrize(
    ("layout", "message"),
    [([], "non-empty"), (["..", "."], "equal-length"), ([".x"], "unknown characters"),
     (["##"], "no free cells")],
)
def test_bad_layouts_raise(layout, message):
    with pytest.raises(ValueError, match=message):
        gridworld(layout)


def test_gridworld_tables_by_hand():
    # States: 0=(0,0) start, 1=(0,1), 2=(1,1) goal; (1,0) is a wall.
    grid = gridworld(["S.", "#G"], slip=0.2, step_reward=-0.1, goal_reward=1.0, gamma=0.9)
    mdp = grid.mdp
    assert grid.cells.tolist() == [[0, 0], [0, 1], [1, 1]]
    assert mdp.terminal.tolist() == [False, False, True]
    assert mdp.init.tolist() == [1.0, 0.0, 0.0]
    # From (0,0) only "right" leaves; slip picks each of the 4 moves with prob 0.05.
    np.testing.assert_allclose(mdp.P[0, RIGHT], [0.15, 0.85, 0.0])
    np.testing.assert_allclose(mdp.P[0, UP], [0.95, 0.05, 0.0])
    # From (0,1): down reaches the goal w.p. 0.8 + 0.05, left goes home w.p. 0.85.
    np.testing.assert_allclose(mdp.P[1, DOWN], [0.05, 0.10, 0.85])
    np.testing.assert_allclose(mdp.P[1, LEFT], [0.85, 0.10, 0.05])
    # Goal reward is paid on the transition, in expectation; the goal itself pays nothing.
    assert mdp.R[1, DOWN] == pytest.approx(-0.1 + 0.85)
    assert mdp.R[1, UP] == pytest.approx(-0.1 + 0.05)
    assert mdp.R[0, RIGHT] == pytest.approx(-0.1)
    np.testing.assert_array_equal(mdp.P[2, :, 2], 1.0)
    np.testing.assert_array_equal(mdp.R[2], 0.0)


def test_features_and_state_lookup():
    grid = gridworld(["S.#", "..G"])
    np.testing.assert_array_equal(onehot_features(grid), np.eye(5))
    np.testing.assert_allclose(coordinate_features(grid)[grid.state(1, 2)], [1.0, 1.0])
    np.testing.assert_allclose(coordinate_features(grid)[grid.state(0, 1)], [0.0, 0.5])
    with pytest.raises(ValueError, match="wall"):
        grid.state(0, 2)
    shown = grid.to_grid(np.arange(5.0))
    assert np.isnan(shown[0, 2]) and shown[1, 2] == 4.0


def test_two_routes_world_is_mirror_symmetric():
    grid = two_routes_world(half_length=3)
    mdp = grid.mdp
    assert grid.layout == ("G..S..G",)
    assert mdp.terminal.tolist() == [True] + [False] * 5 + [True]
    assert mdp.init[grid.state(0, 3)] == 1.0
    # Mirror: state s <-> 6 - s, action right <-> left, up/down fixed.
    mirror_a = [UP, LEFT, DOWN, RIGHT]
    np.testing.assert_allclose(mdp.P[::-1][:, mirror_a][:, :, ::-1], mdp.P)
    np.testing.assert_allclose(mdp.R[::-1][:, mirror_a], mdp.R)
