"""Evaluation of a skill set during pretraining: fresh deterministic rollouts of every skill."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

from envs.registry import env_features, state_feature
from skills.diayn import DIAYN
from skills.metrics import PolicyFn, SkillRollout, rollout_skill, skill_metrics


def position_fn(env: gym.Env) -> Callable[[], np.ndarray] | None:
    """The env's x-y position if it has one, else its x, else None."""
    feats = env_features(env)
    return feats.get("xy", feats.get("x"))


def rollout_all_skills(env: gym.Env, policy: PolicyFn, diayn: DIAYN, feature: str | None,
                       episodes: int = 1, max_steps: int | None = None) -> list[SkillRollout]:
    feature_fn = state_feature(env, feature)
    return [rollout_skill(env, policy, z, feature_fn, position_fn(env), diayn.predict, max_steps)
            for z in range(diayn.n_skills) for _ in range(episodes)]


def skill_evaluator(env: gym.Env, diayn: DIAYN, feature: str | None,
                    episodes: int = 1) -> Callable[[PolicyFn], dict[str, float]]:
    """evaluate(policy) -> eval/disc_accuracy, eval/log_q_z, eval/coverage, eval/return."""

    def evaluate(policy: PolicyFn) -> dict[str, float]:
        return skill_metrics(rollout_all_skills(env, policy, diayn, feature, episodes), diayn.n_skills)

    return evaluate
