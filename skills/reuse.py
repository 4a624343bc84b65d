"""Reusing a skill downstream: fine-tuning the best skill on a task reward (DIAYN Sec. 4.2.1).

`FixedSkill` is the loop's plug-in for fine-tuning: the pretrained skill-conditioned networks
keep seeing [s, one_hot(z*)] with z* fixed, and the reward is the task's own.
"""

from __future__ import annotations

import numpy as np
import torch

from agents.buffer import Batch
from agents.loop import evaluate_returns
from skills.diayn import append_skill


class FixedSkill:
    """A `SkillPlugin` that always runs skill z* and leaves the reward alone."""

    skill_steps = 0
    feature_fn = None

    def __init__(self, skill: int, n_skills: int):
        if not 0 <= skill < n_skills:
            raise ValueError(f"skill {skill} does not exist: skills are 0..{n_skills - 1}")
        self.skill, self.n_skills = skill, n_skills
        self.skill_dim = n_skills
        self._one_hot = np.eye(n_skills, dtype=np.float32)[skill]

    def sample_skill(self, rng: np.random.Generator) -> int:
        return self.skill

    def condition(self, obs: np.ndarray, skill: int) -> np.ndarray:
        return np.concatenate([obs, self._one_hot])

    def relabel(self, batch: Batch) -> Batch:
        K = self.n_skills
        return batch._replace(obs=append_skill(batch.obs, batch.skill, K),
                              next_obs=append_skill(batch.next_obs, batch.skill, K))

    def update(self, batch: Batch) -> tuple[Batch, dict[str, float]]:
        return self.relabel(batch), {}

    def state_dict(self) -> dict:
        return {"skill": self.skill}

    def load_state_dict(self, state: dict) -> None:
        if int(state["skill"]) != self.skill:
            raise ValueError(f"checkpoint fine-tunes skill {int(state['skill'])}, not {self.skill}")


def skill_task_returns(library, make_task_env, episodes: int) -> np.ndarray:
    """Mean task return of each skill, each on a fresh env from `make_task_env()` (so every skill,
    and the fine-tuning's first evaluation, meets the same seeded episodes). A skill sees the task
    as it would in a hierarchy (SkillEnv): without the entries a task appends to the robot's
    observation, which it never saw."""
    from envs.skill_env import SkillEnv

    returns = []
    for z in range(library.n_skills):
        env = SkillEnv(make_task_env(), library, steps_per_skill=1)
        metrics = evaluate_returns(env, lambda obs, _, z=z: z, episodes)
        returns.append(metrics["eval/return"])
        env.close()
    return np.asarray(returns)


def insert_inputs(weight: torch.Tensor, at: int, n: int) -> torch.Tensor:
    """A first layer's `weight` (inputs along dim 1: nn.Linear's (out, in), TwinCritic's
    (critics, in, out)) with `n` inputs of zero weight inserted before input `at`. The layer's
    output is what it was, whatever the new inputs hold, and their weights still get gradients:
    a skill fine-tuned on a task that appends entries to the robot's observation starts as the
    skill (to float rounding: the products are summed in another order), and learns to use them."""
    shape = list(weight.shape)
    shape[1] = n
    return torch.cat([weight[:, :at], weight.new_zeros(shape), weight[:, at:]], dim=1)
