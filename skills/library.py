"""A trained skill set, frozen: load it from a pretraining run, act with skill z, roll skills out.

`SkillLibrary.load(run_dir)` rebuilds the skill-conditioned SAC agent and the discriminator from
the run's config.json and latest checkpoint. The library never trains; downstream code (the
hierarchy's SkillEnv, fine-tuning, the videos) reads it.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from agents.checkpoint import load_checkpoint
from agents.rundir import check_run_kind, config_from_dict
from agents.sac import SAC, SACConfig
from envs.registry import make_env, state_feature
from skills.diayn import DIAYN, DIAYNConfig
from skills.evaluate import position_fn
from skills.metrics import SkillRollout, rollout_skill


class SkillLibrary:
    def __init__(self, agent: SAC, diayn: DIAYN, env_name: str, feature: str | None, seed: int = 0):
        self.agent = agent
        self.diayn = diayn
        self.env_name = env_name
        self.feature = feature
        self.seed = seed
        self.n_skills = diayn.n_skills
        self.agent.actor.eval()
        self.agent.actor.requires_grad_(False)
        self.diayn.discriminator.requires_grad_(False)

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu") -> SkillLibrary:
        """The skills of pretraining run `run_dir` (a RunDirError or CheckpointError otherwise)."""
        data = check_run_kind(run_dir, "pretrain")
        diayn_cfg = config_from_dict(DIAYNConfig, data["extra"]["diayn"])
        sac_cfg = config_from_dict(SACConfig, data["sac"])
        state = load_checkpoint(Path(run_dir) / "checkpoints", map_location=device)
        env = make_env(data["env"])
        obs_dim = env.observation_space.shape[0]
        feature_fn = state_feature(env, diayn_cfg.feature)
        feature_dim = obs_dim if feature_fn is None else feature_fn().size
        env.close()
        agent = SAC(obs_dim + diayn_cfg.n_skills, env.action_space.shape[0], sac_cfg, device=device)
        agent.load_state_dict(state["agent"])
        diayn = DIAYN(feature_dim, diayn_cfg, device=device)
        diayn.load_state_dict(state["plugin"])
        return cls(agent, diayn, data["env"], diayn_cfg.feature, seed=int(data.get("seed", 0)))

    def _check_skill(self, z: int) -> None:
        if not 0 <= z < self.n_skills:
            raise ValueError(f"skill {z} does not exist: this library has skills 0..{self.n_skills - 1}")

    def act(self, obs: np.ndarray, z: int, deterministic: bool = True) -> np.ndarray:
        """The action of skill z in state `obs` (the env's own observation, without the skill)."""
        self._check_skill(z)
        return self.agent.act(self.diayn.condition(np.asarray(obs, np.float32), z), deterministic)

    def make_env(self, seed: int | None = None, **kwargs) -> gym.Env:
        """A fresh env of the kind the skills were trained on."""
        return make_env(self.env_name, seed=seed, **kwargs)

    def rollout(self, z: int, steps: int | None = None, env: gym.Env | None = None,
                seed: int | None = None, deterministic: bool = True,
                frames: list[np.ndarray] | None = None) -> SkillRollout:
        """Run skill z for one episode (or `steps` steps): states, actions, rewards, and the
        discriminator's log q(z|s) of every state reached."""
        self._check_skill(z)
        env = env if env is not None else self.make_env(seed)
        feature_fn = state_feature(env, self.feature)

        def policy(obs: np.ndarray, skill: int) -> np.ndarray:
            return self.act(obs, skill, deterministic)

        return rollout_skill(env, policy, z, feature_fn, position_fn(env), self.diayn.predict,
                             max_steps=steps, seed=seed, frames=frames)

    def log_q_z(self, features: np.ndarray, z: int) -> np.ndarray:
        """log q(z | f(s)) for each row of `features` (what the discriminator sees of s)."""
        return self.diayn.log_q_z(features, z)

    def infer_skill(self, features: np.ndarray) -> int:
        """The skill closest to a demonstration: argmax_z sum_t log q(z | f(s_t)) (the DIAYN
        paper's imitation, Sec. 4.2.3). `features` is (T, feature_dim): what the discriminator
        sees of each state, e.g. `rollout.features` or observations when it sees all of s."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2:
            raise ValueError(f"infer_skill wants a (T, feature_dim) array, got shape {features.shape}")
        return int(self.diayn.predict(features).sum(0).argmax())

    @torch.no_grad()
    def skill_returns(self, env: gym.Env, episodes: int = 1) -> np.ndarray:
        """Mean task return of each skill on `env` (the fine-tuning's skill selection)."""
        return np.array([np.mean([self.rollout(z, env=env).task_return for _ in range(episodes)])
                         for z in range(self.n_skills)])
