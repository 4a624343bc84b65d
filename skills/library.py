"""A trained skill set, frozen: load it from a pretraining run, act with skill z, roll skills out.

`SkillLibrary.load(run_dir)` rebuilds the skill-conditioned SAC agent and the discriminator from
the run's config.json and latest checkpoint. The library never trains; downstream code (the
hierarchy's SkillEnv, fine-tuning, the videos) reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.checkpoint import load_checkpoint
from agents.sac import SAC
from envs.registry import make_env
from skills.evaluate import position_fn, rollout_all_skills, skill_list
from skills.metrics import SkillRollout, rollout_skill, skill_metrics


class SkillLibrary:
    def __init__(self, agent: SAC, method: Any, env_name: str, seed: int = 0,
                 env_kwargs: dict | None = None, obs_dim: int | None = None):
        self.agent = agent
        self.obs_dim = obs_dim
        """entries of the observation the skills act on (`observed`); None: not checked"""
        self.method = method
        """the skill method (skills/registry.py): its condition, features and q(z | f(s))"""
        self.env_name = env_name
        self.env_kwargs = env_kwargs or {}
        """options of the env's constructor the skills were trained with"""
        self.seed = seed
        self.n_skills = method.n_skills
        self.agent.actor.eval()
        self.agent.actor.requires_grad_(False)

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu") -> SkillLibrary:
        """The skills of pretraining run `run_dir` (a RunDirError or CheckpointError otherwise)."""
        from cli.configs import read_run
        from skills.registry import build_method, policy_env

        cfg = read_run(run_dir, "pretrain")
        state = load_checkpoint(Path(run_dir) / "checkpoints", map_location=device)
        env = policy_env(cfg.skills, make_env(cfg.env, **cfg.env_kwargs))
        method = build_method(cfg.skills, env, device=device)
        agent = SAC(env.observation_space.shape[0] + method.skill_dim, env.action_space.shape[0],
                    cfg.sac, device=device)
        env.close()
        agent.load_state_dict(state["agent"])
        method.load_state_dict(state["plugin"])
        return cls(agent, method, cfg.env, seed=cfg.seed, env_kwargs=cfg.env_kwargs,
                   obs_dim=env.observation_space.shape[0])

    @property
    def continuous_dim(self) -> int:
        """d for continuous skills (z a unit vector in R^d), 0 for K discrete ones."""
        return getattr(self.method, "continuous_dim", 0)

    def _check_skill(self, z) -> None:
        d = self.continuous_dim
        if d:
            z = np.asarray(z)
            if z.shape != (d,) or not np.all(np.isfinite(z)):
                raise ValueError(f"a skill of this library is a vector z of {d} finite entries; got "
                                 f"shape {z.shape}")
        elif not isinstance(z, int | np.integer) or not 0 <= z < self.n_skills:
            raise ValueError(f"skill {z} does not exist: this library has skills 0..{self.n_skills - 1}")

    def shown_skills(self) -> list:
        """The skills evaluation, videos and plots run: 0..K-1, or a sweep of directions of z."""
        return skill_list(self.method)

    def act(self, obs: np.ndarray, z, deterministic: bool = True) -> np.ndarray:
        """The action of skill z in state `obs`: the observation of an env as `observed` makes
        it (the robot's own, with any feature the skills see appended), without the skill."""
        self._check_skill(z)
        obs = np.asarray(obs, np.float32)
        if self.obs_dim is not None and obs.shape != (self.obs_dim,):
            raise ValueError(f"an observation of shape {obs.shape}: these skills act on {self.obs_dim} "
                             f"entries, an observation of {self.env_name} as `observed` makes it")
        return self.agent.act(self.method.condition(obs, z), deterministic)

    def observed(self, env: gym.Env) -> gym.Env:
        """`env` (of the skills' robot) as the skills see it: with the feature appended that
        their reward read and the robot's observation leaves out, if any."""
        from skills.registry import policy_env

        return policy_env(self.method.cfg, env)

    def observed_feature(self, env: gym.Env) -> Callable[[], np.ndarray] | None:
        """What the skills see of `env`'s state beyond its robot's observation, appended after
        it (None: nothing); for a task env that appends entries of its own (SkillEnv)."""
        wrapped = self.observed(env)
        return None if wrapped is env else wrapped.feature_fn

    def make_env(self, seed: int | None = None, **kwargs) -> gym.Env:
        """A fresh env of the kind the skills were trained on, as they see it."""
        return self.observed(make_env(self.env_name, seed=seed, **{**self.env_kwargs, **kwargs}))

    def rollout(self, z, steps: int | None = None, env: gym.Env | None = None,
                seed: int | None = None, deterministic: bool = True,
                frames: list[np.ndarray] | None = None) -> SkillRollout:
        """Run skill z for one episode (or `steps` steps): states, actions, rewards, and the
        discriminator's log q(z|s) of every state reached."""
        self._check_skill(z)
        env = self.observed(env) if env is not None else self.make_env(seed)
        feature_fn = self.method.feature_for(env)

        def policy(obs: np.ndarray, skill: int) -> np.ndarray:
            return self.act(obs, skill, deterministic)

        return rollout_skill(env, policy, z, feature_fn, position_fn(env), self.method.predict,
                             max_steps=steps, seed=seed, frames=frames)

    def evaluate(self, episodes: int = 5, seed: int = 0, deterministic: bool = True) -> dict[str, float]:
        """Pretraining's evaluation metrics (`skills.metrics.skill_metrics`: held-out accuracy,
        log q(z|s), coverage, travel) over `episodes` fresh rollouts of every shown skill, each
        from its own start (reset seeds seed, seed + 1, ...): a single rollout per skill, as an
        evaluation during training makes, swings with its start state. Deterministic: on the
        policy's mean action, as training evaluates; else with actions sampled as in training,
        drawn from a generator seeded by `seed` so that the same call gives the same numbers
        (the caller's torch random state is left as it was)."""
        return skill_metrics(self.rollouts(episodes, seed, deterministic), self.n_skills)

    def rollouts(self, episodes: int = 5, seed: int = 0, deterministic: bool = True) -> list[SkillRollout]:
        """`episodes` fresh rollouts of every shown skill, skill by skill (`evaluate`'s: reset
        seeds seed, seed + 1, ...; sampled actions drawn from a generator seeded by `seed`)."""
        if episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {episodes}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return rollout_all_skills(self.make_env(seed), lambda obs, z: self.act(obs, z, deterministic),
                                      self.method, episodes, seed=seed)

    def reach(self, goal_obs: np.ndarray, steps: int | None = None, every: int = 1,
              env: gym.Env | None = None, seed: int | None = None,
              frames: list[np.ndarray] | None = None) -> SkillRollout:
        """Zero-shot goal reaching with continuous METRA or LSD skills: every `every` steps the
        skill is set to z = (phi(g) - phi(s)) / ||phi(g) - phi(s)||, the direction in phi from
        here to the goal observation g (as the skills observe it), for an episode (or `steps`)."""
        d, embed = self.continuous_dim, getattr(self.method, "embed", None)
        if not d or embed is None:
            raise ValueError(f"reach steers continuous skills by their phi; these are "
                             f"{type(self.method.cfg).method} skills with "
                             f"{'no phi' if embed is None else 'discrete z'}: pretrain with "
                             "--method metra (or lsd) and continuous skills")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        env = self.observed(env) if env is not None else self.make_env(seed)
        goal = np.asarray(goal_obs, dtype=np.float32)
        if goal.shape != env.observation_space.shape:
            raise ValueError(f"goal_obs has shape {goal.shape}; the skills observe "
                             f"{env.observation_space.shape} (the env's observation as `observed` makes it)")
        if not np.all(np.isfinite(goal)):
            raise ValueError("goal_obs has NaN or infinite entries: no direction in phi leads there")
        phi_goal = embed(goal[None])[0]
        state: dict[str, Any] = {"t": 0, "z": self.shown_skills()[0]}

        def policy(obs: np.ndarray, _skill) -> np.ndarray:
            if state["t"] % every == 0:
                towards = phi_goal - embed(obs[None])[0]
                norm = float(np.linalg.norm(towards))
                if norm > 1e-6:  # at the goal in phi: keep the last direction
                    state["z"] = (towards / norm).astype(np.float32)
            state["t"] += 1
            return self.agent.act(self.method.condition(obs, state["z"]), True)

        return rollout_skill(env, policy, phi_goal, None, position_fn(env), None, max_steps=steps,
                             seed=seed, frames=frames)

    def log_q_z(self, features: np.ndarray, z: int) -> np.ndarray:
        """log q(z | f(s)) for each row of `features` (what the discriminator sees of s)."""
        self._check_skill(z)
        return self._predict(np.asarray(features, dtype=np.float32))[:, z]

    def infer_skill(self, features: np.ndarray) -> int:
        """The skill closest to a demonstration: argmax_z sum_t log q(z | f(s_t)) (the DIAYN
        paper's imitation, Sec. 4.2.3). `features` is (T, feature_dim): what the discriminator
        sees of each state, e.g. `rollout.features` or observations when it sees all of s."""
        features = np.asarray(features, dtype=np.float32)
        want = getattr(self.method, "feature_dim", None)
        if features.ndim != 2 or (want is not None and features.shape[1] != want):
            raise ValueError(f"infer_skill wants a (T, {want or 'feature_dim'}) array of what the "
                             f"discriminator sees of each state, got shape {features.shape}")
        return int(self._predict(features).sum(0).argmax())

    def _predict(self, features: np.ndarray) -> np.ndarray:
        if self.method.predict is None:
            raise ValueError(f"the {type(self.method.cfg).method} skills have no classifier "
                             "q(z|s): log q(z|s) and infer_skill are DIAYN's")
        return self.method.predict(features)

    @torch.no_grad()
    def skill_returns(self, env: gym.Env, episodes: int = 1) -> np.ndarray:
        """Mean task return of each skill on `env` (the fine-tuning's skill selection)."""
        return np.array([np.mean([self.rollout(z, env=env).task_return for _ in range(episodes)])
                         for z in range(self.n_skills)])
