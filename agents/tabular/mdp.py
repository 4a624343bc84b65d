"""A finite MDP as plain numpy arrays, validated once at construction.

Terminal states are absorbing states with zero reward. Once an episode reaches one it has
ended: no action is taken there, so it earns neither reward nor the entropy bonus. Without
that rule an absorbing state would keep paying ``alpha * log(A)`` per step under maximum
entropy RL (Ziebart 2010, sec. 6.2; the tabular analogue of the ``terminated`` mask in SAC).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_ATOL = 1e-8


def _frozen(x: np.ndarray) -> np.ndarray:
    """A float64 copy that cannot be written to, so a frozen dataclass really is frozen."""
    y = np.array(x, dtype=np.float64)
    y.setflags(write=False)
    return y


def check_distribution_rows(x: np.ndarray, name: str) -> None:
    """Raise ValueError unless every row along the last axis is a probability distribution."""
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains non-finite entries")
    if np.any(x < -_ATOL):
        raise ValueError(f"{name} has negative entries (min {x.min():.3g})")
    sums = np.atleast_1d(x.sum(axis=-1))
    bad = np.argwhere(np.abs(sums - 1.0) > 1e-6)
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"{name} rows must sum to 1; row {idx} sums to {float(sums[idx]):.6g} "
            f"({len(bad)} bad rows)"
        )


@dataclass(frozen=True, eq=False)
class FiniteMDP:
    """Discounted MDP with S states and A actions.

    ``terminal`` may be given explicitly (e.g. when swapping in a learned reward, so that a
    zero reward elsewhere does not turn a state terminal); by default it is every absorbing
    state whose reward is zero for all actions.
    """

    P: np.ndarray
    """Transition probabilities P[s, a, s'], shape (S, A, S)."""
    R: np.ndarray
    """Expected reward R[s, a] for taking a in s, shape (S, A)."""
    gamma: float
    """Discount factor in [0, 1)."""
    init: np.ndarray
    """Initial-state distribution, shape (S,)."""
    terminal: np.ndarray | None = field(default=None)
    """Boolean mask of terminal states, shape (S,); inferred when None."""

    def __post_init__(self) -> None:
        P, R, init = (np.asarray(x) for x in (self.P, self.R, self.init))
        if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] == 0 or P.shape[1] == 0:
            raise ValueError(f"P must have shape (S, A, S) with S, A >= 1, got {P.shape}")
        S, A = P.shape[:2]
        if R.shape != (S, A):
            raise ValueError(f"R must have shape (S, A) = {(S, A)}, got {R.shape}")
        if init.shape != (S,):
            raise ValueError(f"init must have shape (S,) = {(S,)}, got {init.shape}")
        if not np.all(np.isfinite(R)):
            raise ValueError("R contains non-finite entries")
        if not 0.0 <= float(self.gamma) < 1.0:
            raise ValueError(f"gamma must lie in [0, 1), got {self.gamma}")
        check_distribution_rows(P, "P[s, a, :]")
        check_distribution_rows(init, "init")

        absorbing = np.all(np.abs(P[np.arange(S), :, np.arange(S)] - 1.0) <= _ATOL, axis=1)
        if self.terminal is None:
            terminal = absorbing & np.all(R == 0.0, axis=1)
        else:
            terminal = np.asarray(self.terminal, dtype=bool)
            if terminal.shape != (S,):
                raise ValueError(f"terminal must have shape (S,) = {(S,)}, got {terminal.shape}")
            if np.any(terminal & ~absorbing):
                raise ValueError("terminal states must be absorbing under every action")
            if np.any(R[terminal] != 0.0):
                raise ValueError("terminal states must have zero reward")
        terminal = terminal.copy()
        terminal.setflags(write=False)
        object.__setattr__(self, "P", _frozen(P))
        object.__setattr__(self, "R", _frozen(R))
        object.__setattr__(self, "init", _frozen(init))
        object.__setattr__(self, "gamma", float(self.gamma))
        object.__setattr__(self, "terminal", terminal)

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    @property
    def live(self) -> np.ndarray:
        """1.0 where an action is taken (non-terminal), 0.0 at terminal states, shape (S,)."""
        return (~self.terminal).astype(np.float64)

    def with_reward(self, R: np.ndarray) -> FiniteMDP:
        """Same dynamics and terminal set, new reward (zeroed at terminal states)."""
        R = np.where(self.terminal[:, None], 0.0, np.asarray(R, dtype=np.float64))
        return FiniteMDP(self.P, R, self.gamma, self.init, terminal=self.terminal)


def check_policy(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """Return ``pi`` as float64 after checking it is an (S, A) row-stochastic matrix."""
    pi = np.asarray(pi, dtype=np.float64)
    if pi.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"pi must have shape (S, A) = {mdp.R.shape}, got {pi.shape}")
    check_distribution_rows(pi, "pi[s, :]")
    return pi


def check_alpha(alpha: float) -> float:
    """Temperatures must be strictly positive: alpha -> 0 is hard RL, solved separately."""
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha > 0.0):
        raise ValueError(f"alpha (temperature) must be a positive finite number, got {alpha}")
    return alpha


def random_mdp(
    n_states: int, n_actions: int, gamma: float, rng: np.random.Generator, concentration: float = 1.0
) -> FiniteMDP:
    """A continuing MDP with Dirichlet(concentration) transition rows, N(0, 1) rewards and a
    uniform start: no terminal states, so nothing cuts the entropy stream short."""
    P = rng.dirichlet(np.full(n_states, concentration), size=(n_states, n_actions))
    R = rng.normal(size=(n_states, n_actions))
    return FiniteMDP(P, R, gamma, np.full(n_states, 1.0 / n_states))
