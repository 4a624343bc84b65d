"""Path Consistency Learning, tabular (Nachum et al. 2017, "Bridging the Gap Between Value and
Policy Based Reinforcement Learning").

With deterministic dynamics the soft-optimal pair (V*, pi*) satisfies, on every path
(Thm. 1 for d = 1, Cor. 2 for any d),
    C(s_t:t+d) = -V(s_t) + gamma^d V(s_t+d) + sum_{i<d} gamma^i (r_t+i - alpha log pi(a_t+i|s_t+i)) = 0,
and no other pair does (Thm. 3). PCL minimises sum 0.5 C^2 over sub-trajectories jointly in a
softmax policy pi_theta and V. The paths need not come from pi: the identity holds on
any path, so replayed (off-policy) trajectories are as good as fresh ones.

Conventions are those of ``solvers.py``: ``alpha`` is the paper's tau, R[s, a] is paid for
taking a in s, V = 0 at terminal states and nothing (reward or entropy) is earned after
termination. A window that runs past termination is therefore the paper's shorter final
window: its masked steps add zero and gamma^d V(terminal) = 0.

With stochastic transitions only the expectation over next states vanishes, E[C] = 0. The
sampled loss has E[C^2] = E[C]^2 + Var[C], whose minimiser is not (V*, pi*): sampled PCL is
biased there (measured in ``benchmarks/pcl_tabular.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from agents.tabular.learning import softmax_policy
from agents.tabular.mdp import FiniteMDP, check_alpha, check_policy
from agents.tabular.sampling import Trajectories, sample_trajectories
from agents.tabular.solvers import policy_transitions, safe_log, soft_value


def consistency_error(
    v_start: np.ndarray,
    v_end: np.ndarray,
    rewards: np.ndarray,
    log_pi: np.ndarray,
    gamma: float,
    alpha: float,
) -> np.ndarray:
    """C = -V(s_t) + gamma^d V(s_t+d) + sum_{i<d} gamma^i (r_t+i - alpha log pi(a_t+i|s_t+i)).

    ``rewards`` and ``log_pi`` hold the d steps along the last axis; leading axes are a batch.
    After termination the caller passes zeros for both and V(s_t+d) = 0.
    """
    d = rewards.shape[-1]
    return -v_start + gamma**d * v_end + (rewards - alpha * log_pi) @ gamma ** np.arange(d)


class SubTrajectories(NamedTuple):
    """Sub-trajectories of length d, each starting at a live (non-terminal) state."""

    states: np.ndarray
    """s_t .. s_t+d, shape (m, d + 1)."""
    actions: np.ndarray
    """a_t .. a_t+d-1, shape (m, d)."""
    rewards: np.ndarray
    """r_t .. r_t+d-1, zero after termination, shape (m, d)."""
    alive: np.ndarray
    """Whether a_t+i was really taken, shape (m, d)."""


def sub_trajectories(traj: Trajectories, d: int) -> SubTrajectories:
    """Every length-d window of every episode that starts on a live state."""
    n, horizon = traj.actions.shape
    if not 1 <= d <= horizon:
        raise ValueError(f"window length d must lie in [1, horizon={horizon}], got {d}")
    starts = np.arange(horizon - d + 1)
    idx = starts[:, None] + np.arange(d)[None, :]  # (k, d)
    keep = traj.alive[:, starts].ravel()
    s = traj.states[:, np.concatenate([idx, idx[:, -1:] + 1], axis=1)].reshape(-1, d + 1)
    a, r, alive = (x[:, idx].reshape(-1, d) for x in (traj.actions, traj.rewards, traj.alive))
    return SubTrajectories(s[keep], a[keep], r[keep], alive[keep])


def sub_trajectory_errors(
    w: SubTrajectories, v: np.ndarray, log_pi: np.ndarray, live: np.ndarray, gamma: float, alpha: float
) -> np.ndarray:
    """C of each window under the tables (v, log_pi), shape (m,)."""
    lp = np.where(w.alive, log_pi[w.states[:, :-1], w.actions], 0.0)
    v_end = live[w.states[:, -1]] * v[w.states[:, -1]]
    return consistency_error(v[w.states[:, 0]], v_end, w.rewards, lp, gamma, alpha)


def pcl_gradients(
    w: SubTrajectories, c: np.ndarray, pi: np.ndarray, live: np.ndarray, gamma: float, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of mean 0.5 C^2 with respect to the logits theta and the value table V.

    dC/dV(s_t) = -1, dC/dV(s_t+d) = gamma^d (0 at terminals, whose value is fixed at 0),
    dC/dtheta = -alpha sum_i gamma^i grad log pi(a_t+i|s_t+i), with
    grad_theta(s, .) log pi(a|s) = e_a - pi(.|s) (softmax). These are the paper's PCL updates,
    with alpha kept in the gradient rather than folded into the step size.
    """
    m, d = w.actions.shape
    grad_v = np.zeros(pi.shape[0])
    np.add.at(grad_v, w.states[:, 0], -c)
    np.add.at(grad_v, w.states[:, -1], gamma**d * live[w.states[:, -1]] * c)
    coef = (-alpha * c[:, None] * gamma ** np.arange(d) * w.alive).ravel()
    s, a = w.states[:, :-1].ravel(), w.actions.ravel()
    grad_theta = np.zeros_like(pi)
    np.add.at(grad_theta, (s, a), coef)
    np.add.at(grad_theta, s, -coef[:, None] * pi[s])
    return grad_theta / m, grad_v / m


def expected_consistency(
    mdp: FiniteMDP, v: np.ndarray, pi: np.ndarray, d: int, alpha: float, behaviour: np.ndarray | None = None
) -> np.ndarray:
    """E[C | s_t = s] for paths of length d whose actions follow ``behaviour`` (default pi),
    exact, shape (S,): sum_{i<d} gamma^i P_b^i r_b + gamma^d P_b^d V - V, where
    r_b(s) = sum_a b(a|s) (R(s, a) - alpha log pi(a|s)). Zero for (V*, pi*) under any b, which is
    why PCL may learn off-policy."""
    pi = check_policy(mdp, pi)
    b = pi if behaviour is None else check_policy(mdp, behaviour)
    P_b = policy_transitions(mdp, b)  # terminal rows are zero: nothing follows the end
    r_b = mdp.live * (b * (mdp.R - alpha * safe_log(pi))).sum(axis=1)
    acc, reach = np.zeros(mdp.n_states), np.eye(mdp.n_states)
    for i in range(d):
        acc += mdp.gamma**i * reach @ r_b
        reach = reach @ P_b
    return mdp.live * (acc + mdp.gamma**d * reach @ (mdp.live * v) - v)


@dataclass(frozen=True)
class PCLConfig:
    """Settings for ``path_consistency_learning``."""

    d: int = 2
    """Rollout (window) length of the path consistency."""
    n_iterations: int = 5_000
    """Rounds of (one on-policy batch, then ``replay_batches`` replayed batches)."""
    episodes: int = 4
    """On-policy episodes sampled per round."""
    horizon: int = 20
    """Episode length. Truncation needs no care: windows lie inside an episode and the
    consistency holds on each one alone."""
    lr_pi: float = 1.0
    """Step on the logits, in units of 1 / (2 alpha^2 (sum_{i<d} gamma^i)^2): see ``pcl_steps``."""
    lr_v: float = 0.9
    """Step on V, in units of 1 / (1 + gamma^(2d)); lr_pi + lr_v < 2 keeps descent stable."""
    epsilon: float = 0.0
    """Rollouts act uniformly at random with this probability. The consistency holds on any
    path, so this biases nothing, while it keeps actions with tiny pi(a|s) in the data:
    on-policy alone, their logits move at a rate proportional to pi(a|s)."""
    replay_batches: int = 1
    """Off-policy updates per round on episodes drawn uniformly from the replay (the paper
    favours high-return episodes; uniform keeps the data distribution easy to state)."""
    replay_capacity: int = 400
    """Episodes kept in the replay, oldest dropped first."""
    trace_every: int = 50
    """Keep a copy of V every this many rounds (for convergence plots)."""


class PCLResult(NamedTuple):
    """Learned tables, the V trace and final metrics."""

    theta: np.ndarray
    """Logits, shape (S, A); pi = softmax_policy(theta)."""
    v: np.ndarray
    """State values, shape (S,); zero at terminal states."""
    v_trace: np.ndarray
    """V after rounds trace_every, 2 trace_every, ..., shape (n_traces, S)."""
    metrics: dict[str, float]
    """train/ loss (mean 0.5 C^2 of the last on-policy batch) and episode counts."""


def pcl_steps(config: PCLConfig, gamma: float, alpha: float) -> tuple[float, float]:
    """Raw step sizes on (theta, V). One window's 0.5 C^2 has curvature g g^T at C = 0, with
    |dC/dV|^2 = 1 + gamma^(2d) and |dC/dtheta|^2 <= 2 alpha^2 (sum_i gamma^i)^2 (|e_a - pi|^2
    <= 2). Dividing each block by its bound makes the preconditioned curvature at most
    lr_pi + lr_v, for any alpha and d (normalised LMS); plain steps diverge at large alpha d."""
    d = config.d
    pi_bound = 2.0 * alpha**2 * ((1.0 - gamma**d) / (1.0 - gamma)) ** 2
    return config.lr_pi / pi_bound, config.lr_v / (1.0 + gamma ** (2 * d))


def _take(traj: Trajectories, idx: np.ndarray) -> Trajectories:
    return Trajectories(*(x[idx] for x in traj))


def _concat(parts: list[Trajectories]) -> Trajectories:
    return Trajectories(*(np.concatenate(xs) for xs in zip(*parts)))


def path_consistency_learning(
    mdp: FiniteMDP,
    alpha: float,
    rng: np.random.Generator,
    config: PCLConfig = PCLConfig(),
    theta0: np.ndarray | None = None,
    v0: np.ndarray | None = None,
) -> PCLResult:
    """Tabular PCL: gradient descent on mean 0.5 C^2 over length-d windows, jointly in theta
    and V, alternating on-policy rollouts with batches from a replay of stored episodes."""
    alpha = check_alpha(alpha)
    if not 0.0 <= config.epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {config.epsilon}")
    S, A = mdp.R.shape
    theta = np.zeros((S, A)) if theta0 is None else np.array(theta0, dtype=np.float64)
    v = mdp.live * (np.zeros(S) if v0 is None else np.asarray(v0, dtype=np.float64))
    lr_pi, lr_v = pcl_steps(config, mdp.gamma, alpha)
    replay: Trajectories | None = None
    trace, loss = [], float("nan")
    for k in range(config.n_iterations):
        # Off-policy is sound for PCL (module docstring), so mixing in uniform actions is too.
        behaviour = (1.0 - config.epsilon) * softmax_policy(theta) + config.epsilon / A
        fresh = sample_trajectories(mdp, behaviour, config.episodes, config.horizon, rng)
        replay = fresh if replay is None else _concat([replay, fresh])
        replay = _take(replay, np.arange(max(0, len(replay.states) - config.replay_capacity),
                                         len(replay.states)))
        batches = [fresh] + [
            _take(replay, rng.integers(len(replay.states), size=config.episodes))
            for _ in range(config.replay_batches)
        ]
        for i, batch in enumerate(batches):
            w = sub_trajectories(batch, config.d)
            if len(w.actions) == 0:
                continue  # every episode started on a terminal state: nothing to fit
            log_pi = theta - soft_value(theta, 1.0)[:, None]  # log-softmax, finite for any theta
            pi = np.exp(log_pi)
            c = sub_trajectory_errors(w, v, log_pi, mdp.live, mdp.gamma, alpha)
            if i == 0:
                loss = float(0.5 * np.mean(c**2))
            g_theta, g_v = pcl_gradients(w, c, pi, mdp.live, mdp.gamma, alpha)
            theta -= lr_pi * g_theta
            v -= lr_v * g_v
        if (k + 1) % config.trace_every == 0:
            trace.append(v.copy())
    metrics = {"train/loss": loss, "train/episodes": float(config.n_iterations * config.episodes)}
    return PCLResult(theta, v, np.array(trace).reshape(-1, S), metrics)


def deterministic_mdp(n_states: int, n_actions: int, gamma: float, rng: np.random.Generator) -> FiniteMDP:
    """A continuing MDP with uniformly drawn deterministic successors, N(0, 1) rewards and a
    uniform start: the setting of the paper's Thm. 1-3."""
    succ = rng.integers(n_states, size=(n_states, n_actions))
    P = np.zeros((n_states, n_actions, n_states))
    P[np.arange(n_states)[:, None], np.arange(n_actions)[None, :], succ] = 1.0
    R = rng.normal(size=(n_states, n_actions))
    return FiniteMDP(P, R, gamma, np.full(n_states, 1.0 / n_states))
