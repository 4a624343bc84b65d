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


def rollout_all_skills(env: gym.Env, policy: PolicyFn, method: Any, episodes: int = 1,
                       max_steps: int | None = None) -> list[SkillRollout]:
    """`episodes` rollouts of each skill of `method` (a skill method, skills/registry.py)."""
    feature_fn = method.feature_for(env)
    return [rollout_skill(env, policy, z, feature_fn, position_fn(env), method.predict, max_steps)
            for z in range(method.n_skills) for _ in range(episodes)]


def skill_evaluator(env: gym.Env, method: Any, episodes: int = 1) -> Callable[[PolicyFn], dict[str, float]]:
    """evaluate(policy) -> eval/disc_accuracy, eval/log_q_z, eval/coverage, eval/return."""

    def evaluate(policy: PolicyFn) -> dict[str, float]:
        return skill_metrics(rollout_all_skills(env, policy, method, episodes), method.n_skills)

    return evaluate
