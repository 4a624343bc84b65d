"""Evaluation of a skill set during pretraining: fresh deterministic rollouts of every skill."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from envs.registry import env_features
from skills.metrics import PolicyFn, SkillRollout, rollout_skill, skill_metrics


def position_fn(env: gym.Env) -> Callable[[], np.ndarray] | None:
    """The env's x-y position if it has one, else its x, else None."""
    feats = env_features(env)
    return feats.get("xy", feats.get("x"))


def skill_list(method: Any) -> list:
    """The skills a method is evaluated and shown with: its `shown_skills()` (a sweep of
    directions for continuous skills), or all K."""
    shown = getattr(method, "shown_skills", None)
    return shown() if shown is not None else list(range(method.n_skills))


def skill_label(z) -> str:
    """z=3 for a discrete skill; the direction of z's first two entries for a continuous one."""
    z = np.asarray(z)
    if z.ndim == 0:
        return f"z={int(z)}"
    if z.size == 1:
        return f"z={float(z[0]):+.2g}"
    return f"z at {np.degrees(np.arctan2(z[1], z[0])) % 360:.0f} deg"


def rollout_all_skills(env: gym.Env, policy: PolicyFn, method: Any, episodes: int = 1,
                       max_steps: int | None = None, seed: int | None = None) -> list[SkillRollout]:
    """`episodes` rollouts of each skill of `method` (a skill method, skills/registry.py); with
    `seed`, episode e of the i-th skill resets with seed + e * (number of skills) + i."""
    feature_fn = method.feature_for(env)
    skills = skill_list(method)
    return [rollout_skill(env, policy, z, feature_fn, position_fn(env), method.predict, max_steps,
                          seed=None if seed is None else seed + e * len(skills) + i)
            for i, z in enumerate(skills) for e in range(episodes)]


def rollout_mid_episode(env: gym.Env, policy: PolicyFn, method: Any, episodes: int = 1) -> list[SkillRollout]:
    """Each skill z of `method`, `episodes` times, for the method's skill_steps k, started after
    k steps of another skill (the next ones in turn): the states a skill redrawn every k steps
    starts from in training, and in a hierarchy, rather than the reset state alone."""
    k, skills = method.skill_steps, skill_list(method)
    n = len(skills)
    feature_fn = method.feature_for(env)
    return [rollout_skill(env, policy, z, feature_fn, position_fn(env), method.predict, k,
                          lead=(skills[(i + 1 + e % (n - 1)) % n], k))
            for i, z in enumerate(skills) for e in range(episodes)]


def skill_evaluator(env: gym.Env, method: Any, episodes: int = 1) -> Callable[[PolicyFn], dict[str, float]]:
    """evaluate(policy) -> eval/disc_accuracy, eval/log_q_z, eval/coverage, eval/return of each
    skill run from reset for an episode; for a method that redraws skills every k steps also
    eval/mid_disc_accuracy and eval/mid_log_q_z of skills started after another's k steps."""

    def evaluate(policy: PolicyFn) -> dict[str, float]:
        out = skill_metrics(rollout_all_skills(env, policy, method, episodes), method.n_skills)
        if method.skill_steps:
            mid = [r for r in rollout_mid_episode(env, policy, method, episodes) if len(r.predicted)]
            if mid:  # none where every lead-in ended its episode (a robot that fell)
                m = skill_metrics(mid, method.n_skills)
                out.update({"eval/mid_disc_accuracy": m["eval/disc_accuracy"],
                            "eval/mid_log_q_z": m["eval/log_q_z"]})
        return out

    return evaluate
