"""Gridworld builders: ASCII layouts turned into FiniteMDPs, plus state features for IRL.

Layout characters: ``#`` wall (not a state), ``.`` free cell, ``S`` start cell, ``G`` terminal
goal. Every non-wall cell is a state, numbered in row-major order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agents.tabular.mdp import FiniteMDP

MOVES: tuple[tuple[int, int], ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))
"""(d_row, d_col) of each action; arrays index actions in this order."""
ACTION_NAMES: tuple[str, ...] = ("up", "right", "down", "left")


@dataclass(frozen=True, eq=False)
class GridWorld:
    """A gridworld MDP together with where each state lives on the grid."""

    mdp: FiniteMDP
    """The MDP; actions follow ``MOVES``."""
    layout: tuple[str, ...]
    """The ASCII layout it was built from."""
    cells: np.ndarray
    """(row, col) of each state, shape (S, 2)."""

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.layout), len(self.layout[0])

    def state(self, row: int, col: int) -> int:
        """State index of a (non-wall) cell."""
        hits = np.flatnonzero((self.cells[:, 0] == row) & (self.cells[:, 1] == col))
        if hits.size == 0:
            raise ValueError(f"cell ({row}, {col}) is a wall or outside the grid")
        return int(hits[0])

    def to_grid(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Scatter per-state ``values`` (S,) onto an (H, W) array; walls get ``fill``."""
        grid = np.full(self.shape, fill, dtype=np.float64)
        grid[self.cells[:, 0], self.cells[:, 1]] = values
        return grid


def _check_layout(layout: Sequence[str]) -> tuple[str, ...]:
    layout = tuple(layout)
    if not layout or any(len(row) != len(layout[0]) for row in layout) or not layout[0]:
        raise ValueError("layout must be a non-empty list of equal-length strings")
    unknown = set("".join(layout)) - set("#.SG")
    if unknown:
        raise ValueError(f"layout has unknown characters {sorted(unknown)}; use '#', '.', 'S', 'G'")
    if all(ch == "#" for row in layout for ch in row):
        raise ValueError("layout has no free cells")
    return layout


def gridworld(
    layout: Sequence[str],
    slip: float = 0.0,
    step_reward: float = -0.01,
    goal_reward: float = 1.0,
    gamma: float = 0.95,
) -> GridWorld:
    """Build a 4-action gridworld.

    With probability ``1 - slip`` the chosen move happens, otherwise a uniformly random move
    (possibly the chosen one). Moves into walls or off the grid leave the agent in place.
    Every action in a non-goal cell costs ``step_reward``; entering a goal adds ``goal_reward``
    (paid on the transition, because goal states themselves are terminal and so reward-free).
    Episodes start uniformly on ``S`` cells, or on all non-goal cells if there are none.
    """
    layout = _check_layout(layout)
    if not 0.0 <= slip <= 1.0:
        raise ValueError(f"slip must lie in [0, 1], got {slip}")
    cells = np.array([(r, c) for r, row in enumerate(layout) for c, ch in enumerate(row) if ch != "#"])
    index = {(int(r), int(c)): s for s, (r, c) in enumerate(cells)}
    kind = np.array([layout[r][c] for r, c in cells])
    goal = kind == "G"
    S, A = len(cells), len(MOVES)

    # Deterministic successor of each (state, move); slip mixes these rows.
    succ = np.empty((S, A), dtype=int)
    for s, (r, c) in enumerate(cells):
        for a, (dr, dc) in enumerate(MOVES):
            succ[s, a] = index.get((int(r + dr), int(c + dc)), s)
    move = np.zeros((S, A, S))
    move[np.arange(S)[:, None], np.arange(A)[None, :], succ] = 1.0
    P = (1.0 - slip) * move + slip * move.mean(axis=1, keepdims=True)
    P[goal] = 0.0
    P[goal, :, np.flatnonzero(goal)] = 1.0

    R = step_reward + goal_reward * P[:, :, goal].sum(axis=2)
    R[goal] = 0.0

    start = kind == "S" if np.any(kind == "S") else ~goal
    if not np.any(start):
        raise ValueError("layout needs a start cell or a non-goal cell")
    init = start / start.sum()
    return GridWorld(FiniteMDP(P, R, gamma, init, terminal=goal), layout, cells)


def two_routes_world(
    half_length: int = 3,
    slip: float = 0.0,
    step_reward: float = -0.1,
    goal_reward: float = 2.0,
    gamma: float = 0.95,
) -> GridWorld:
    """A corridor ``G...S...G``: two mirror-image routes to equally good goals.

    The soft-optimal policy takes each route with probability exactly 1/2, whereas any
    greedy (hard-max) policy must break the tie and commit to one. The default step cost is
    high enough that for alpha up to ~0.2 the entropy bonus does not make dawdling pay.
    """
    if half_length < 1:
        raise ValueError(f"half_length must be >= 1, got {half_length}")
    arm = "." * (half_length - 1)
    return gridworld(["G" + arm + "S" + arm + "G"], slip, step_reward, goal_reward, gamma)


def onehot_features(grid: GridWorld) -> np.ndarray:
    """phi(s) = e_s, shape (S, S): a linear reward on these is an arbitrary state reward."""
    return np.eye(grid.mdp.n_states)


def coordinate_features(grid: GridWorld) -> np.ndarray:
    """phi(s) = (row, col) scaled to [0, 1], shape (S, 2): rewards that tilt the grid."""
    H, W = grid.shape
    scale = np.array([max(H - 1, 1), max(W - 1, 1)], dtype=np.float64)
    return grid.cells / scale
