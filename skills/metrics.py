"""Skill metrics in one place: evaluation during pretraining, the library and the plots use them.

- held-out accuracy: the discriminator's accuracy on fresh deterministic rollouts of every skill
  (not on the replay buffer, whose states the discriminator was trained on); for skills without
  one, a classifier's fitted to other rollouts (`fitted_accuracy`);
- per-skill mean log q(z|s);
- coverage: distinct 1 m x 1 m cells visited by the rollouts (the metric METRA and LSD report);
- per-skill final position (x-y, or x for planar robots);
- what a rollout did: its speed, and forward, backward, moving, standing or fallen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

PolicyFn = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class SkillRollout:
    """One episode of skill z. `states` and `positions` include the initial state (T+1 rows);
    `log_q_z` is log q(z | f(s_t)) for t = 1..T, the states the actions led to."""

    skill: int | np.ndarray
    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    features: np.ndarray
    positions: np.ndarray
    log_q_z: np.ndarray
    predicted: np.ndarray

    @property
    def task_return(self) -> float:
        return float(self.rewards.sum())


def coverage(xy: np.ndarray, cell: float = 1.0) -> int:
    """Number of distinct cell x cell squares that the points (N, 2) (or x values (N,)) fall in."""
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim == 1:
        xy = xy[:, None]
    return len({tuple(c) for c in np.floor(xy / cell).astype(np.int64)})


def fallen(env: gym.Env) -> bool:
    """Whether the robot is down now. Gymnasium's healthy range (`is_healthy`: torso height and
    angle) left on the low side or by angle, not by a bounce over its top (Ant's range ends at
    1 m, which a hopping ant clears); and, for a robot whose root is a free joint (Ant, Humanoid),
    a torso upside down, its up axis below the horizontal: a flipped ant lies at ~0.27 m, inside
    its range. Robots without a healthy range (HalfCheetah, Swimmer) never count as down."""
    from envs.registry import has_free_root, up_z

    base = env.unwrapped
    qpos, free = base.data.qpos, has_free_root(env)
    if free and up_z(qpos) < 0.0:
        return True
    if getattr(base, "is_healthy", True):
        return False
    top = getattr(base, "_healthy_z_range", (0.0, np.inf))[1]
    return not (qpos[2] if free else qpos[1]) > top  # planar robots: qpos = x, z, angle, ...


def motion(points: np.ndarray, dt: float, fell: bool, moving: float = 0.5) -> tuple[str, float]:
    """What one rollout did, from its positions (T+1 rows: x for a planar robot, x-y otherwise)
    `dt` seconds apart: its mean speed, signed along x for a planar robot and over the ground
    for an x-y one ((last - first) / time), and a label: "fallen" if it was down (`fallen`) at
    any step, whatever its speed; else "forward" / "backward" (planar, beyond `moving` m/s),
    "moving" (x-y, faster than `moving`) or "standing"."""
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    shift = points[-1] - points[0]
    planar = points.shape[1] == 1
    speed = float(shift[0] if planar else np.linalg.norm(shift)) / ((len(points) - 1) * dt)
    if fell:
        return "fallen", speed
    if abs(speed) <= moving:
        return "standing", speed
    if not planar:
        return "moving", speed
    return ("forward" if speed > 0 else "backward"), speed


def confusion_matrix(true_z: np.ndarray, pred_z: np.ndarray, n_skills: int) -> np.ndarray:
    """Row z: the distribution of the discriminator's guesses on states of skill z (rows of
    skills with no states stay 0)."""
    m = np.zeros((n_skills, n_skills))
    np.add.at(m, (np.asarray(true_z), np.asarray(pred_z)), 1.0)
    rows = m.sum(1, keepdims=True)
    return np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)


def rollout_skill(
    env: gym.Env,
    policy: PolicyFn,
    skill: int | np.ndarray,
    feature_fn: Callable[[], np.ndarray] | None,
    position_fn: Callable[[], np.ndarray] | None,
    predict: Callable[[np.ndarray], np.ndarray] | None,
    max_steps: int | None = None,
    seed: int | None = None,
    frames: list[np.ndarray] | None = None,
    lead: tuple[int, int] | None = None,
) -> SkillRollout:
    """Run skill z for one episode (or `max_steps`); `predict` maps features to log q(.|f(s))
    (None: no classifier, and `log_q_z` and `predicted` are empty).
    With a `frames` list, the env's rgb frame of every state of this rollout is appended (T+1).
    With `lead` = (skill, steps), that skill runs first, unrecorded, and z starts where it left
    the robot (no step of z if the episode ended first)."""
    obs, _ = env.reset(seed=seed)
    done = False
    for _ in range(lead[1] if lead else 0):
        obs, _, terminated, truncated, _ = env.step(policy(obs.astype(np.float32), lead[0]))
        if terminated or truncated:
            done = True
            break
    if frames is not None:
        frames.append(env.render())
    states, actions, rewards = [obs], [], []
    feats = [feature_fn() if feature_fn else obs]
    positions = [position_fn() if position_fn else np.zeros(0)]
    t = 0
    while not done and (max_steps is None or t < max_steps):
        action = policy(obs.astype(np.float32), skill)
        obs, r, terminated, truncated, _ = env.step(action)
        states.append(obs)
        actions.append(action)
        rewards.append(r)
        feats.append(feature_fn() if feature_fn else obs)
        positions.append(position_fn() if position_fn else np.zeros(0))
        if frames is not None:
            frames.append(env.render())
        t += 1
        if terminated or truncated:
            break
    features = np.asarray(feats, dtype=np.float32)
    actions_ = np.asarray(actions) if actions else np.zeros((0, *env.action_space.shape))
    if predict is None:  # a method without a classifier of skills (METRA, LSD)
        log_q_z, predicted = np.zeros(0), np.zeros(0, dtype=np.int64)
    else:
        log_probs = predict(features[1:])
        log_q_z, predicted = log_probs[:, skill], log_probs.argmax(-1)
    return SkillRollout(skill, np.asarray(states), actions_, np.asarray(rewards, np.float64),
                        features, np.asarray(positions, dtype=np.float64), log_q_z, predicted)


def skill_metrics(rollouts: list[SkillRollout], n_skills: int) -> dict[str, float]:
    """Aggregate metrics over rollouts of every skill (keys under `eval/`): the held-out accuracy
    and log q(z|s) where the method has a classifier; coverage (x-y robots) and the mean distance
    from start to end of a rollout (`eval/travel`) where the env has a position."""
    out = {"eval/return": float(np.mean([r.task_return for r in rollouts]))}
    pred_z = np.concatenate([r.predicted for r in rollouts])
    if len(pred_z):
        true_z = np.concatenate([np.full(len(r.predicted), r.skill) for r in rollouts])
        out["eval/disc_accuracy"] = float((pred_z == true_z).mean())
        out["eval/log_q_z"] = float(np.mean(np.concatenate([r.log_q_z for r in rollouts])))
    if rollouts[0].positions.shape[1] == 2:
        out["eval/coverage"] = float(coverage(np.concatenate([r.positions for r in rollouts])))
    if rollouts[0].positions.shape[1] > 0:
        out["eval/travel"] = float(np.mean([np.linalg.norm(r.positions[-1] - r.positions[0])
                                            for r in rollouts]))
    return out


Labelled = tuple[np.ndarray, np.ndarray]
"""(x, labels): rows of inputs and the skill index of each"""


def fitted_accuracy(fit: Labelled, held_out: Labelled, n_classes: int, seed: int = 0,
                    steps: int = 1000, hidden: tuple[int, ...] = (64, 64)) -> float:
    """Accuracy on `held_out` = (x, labels) of a classifier fitted to `fit` = (x, labels): an MLP
    on x standardised by the fitted rows, full-batch Adam on the cross-entropy for `steps`. How
    distinct the states of skills without a q(z|s) of their own (METRA, LSD) are, measured as
    DIAYN's discriminator is, on rollouts it did not see."""
    import torch
    import torch.nn.functional as F

    from agents.nets import mlp

    (x, y), (x_test, y_test) = fit, held_out
    x, x_test = (torch.as_tensor(np.asarray(v, np.float32).reshape(len(v), -1)) for v in (x, x_test))
    y, y_test = (torch.as_tensor(np.asarray(v), dtype=torch.int64) for v in (y, y_test))
    mean, std = x.mean(0), x.std(0) + 1e-6
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = mlp(x.shape[1], hidden, n_classes)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(steps):
            loss = F.cross_entropy(net((x - mean) / std), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float((net((x_test - mean) / std).argmax(-1) == y_test).float().mean())


def per_skill_table(rollouts: list[SkillRollout]) -> list[dict[str, float]]:
    """One row per rollout: skill, mean log q(z|s), accuracy, task return, final position."""
    rows = []
    for r in rollouts:
        scored = len(r.predicted) > 0
        skill = r.skill if np.ndim(r.skill) == 0 else " ".join(f"{v:.3g}" for v in np.round(r.skill, 3) + 0.0)
        row = {"skill": skill, "log_q_z": float(r.log_q_z.mean()) if scored else float("nan"),
               "accuracy": float((r.predicted == r.skill).mean()) if scored else float("nan"),
               "return": r.task_return}
        for name, v in zip(("final_x", "final_y"), r.positions[-1]):
            row[name] = float(v)
        rows.append(row)
    return rows
