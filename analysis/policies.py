"""Rebuild a run's deterministic policy from its checkpoint, for videos of any run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from agents.checkpoint import load_checkpoint
from agents.loop import NoSkills
from agents.registry import build_agent
from agents.rundir import RunDirError
from envs.registry import make_env
from skills.reuse import FixedSkill


def load_policy(run_dir: str | Path, config, render_size: int = 240
                ) -> tuple[gym.Env, Callable[[np.ndarray], np.ndarray]]:
    """(a rendering env, policy(obs) -> action) of a train or finetune run (its typed config)."""
    if config.command not in ("train", "finetune"):
        raise RunDirError(f"no policy video for a {config.command!r} run")
    state = load_checkpoint(Path(run_dir) / "checkpoints")
    from analysis.video import video_env

    skill = getattr(config, "skill", None) if not getattr(config, "scratch", True) else None
    observe = _skills_view(config) if skill is not None else (lambda env: env)
    env = video_env(lambda **kw: observe(make_env(config.env_name, **kw)), render_size)
    obs_dim = env.observation_space.shape[0]
    # A fine-tuned skill's networks take the skill's one-hot after the observation; how many
    # skills there were is the width of the actor's input beyond the observation.
    n_skills = state["agent"]["actor"]["trunk.0.weight"].shape[1] - obs_dim if skill is not None else 0
    agent = _agent(state, config, obs_dim + n_skills, env.action_space)
    plugin = FixedSkill(skill, n_skills) if n_skills else NoSkills()

    def policy(obs: np.ndarray) -> np.ndarray:
        return agent.act(plugin.condition(obs, skill), deterministic=True)

    return env, policy


def load_controller(run_dir: str | Path, config, task_env: gym.Env | None = None
                    ) -> tuple[gym.Env, Callable[[np.ndarray], int]]:
    """(the hierarchy's SkillEnv over `task_env`, default a fresh env of its task, the controller's
    greedy choice of skill) of a hierarchy run (its typed config), from its latest checkpoint."""
    from agents.discrete import SoftQ
    from cli.reuse import hierarchy_env, skill_library

    state = load_checkpoint(Path(run_dir) / "checkpoints")
    lib = skill_library(config, existing=True)
    env = hierarchy_env(make_env(config.env_name) if task_env is None else task_env, lib, config)
    agent = SoftQ(env.observation_space.shape[0], int(env.action_space.n), config.agent_config)
    agent.load_state_dict(state["agent"])
    return env, lambda obs: agent.act(obs, deterministic=True)


def load_agent(run_dir: str | Path):
    """(the typed config, the trained agent, an env of its task) of a `train` run, from its
    latest checkpoint: to act in the env (stochastically or not) or in a perturbed copy of it."""
    from cli.configs import read_run

    config = read_run(run_dir, "train")
    env = make_env(config.env_name)
    state = load_checkpoint(Path(run_dir) / "checkpoints")
    return config, _agent(state, config, env.observation_space.shape[0], env.action_space), env


def _agent(state: dict, config, obs_dim: int, action_space: gym.Space):
    agent = build_agent(config.agent_config, obs_dim, action_space)
    agent.load_state_dict(state["agent"])
    return agent


def _skills_view(config) -> Callable[[gym.Env], gym.Env]:
    """How a fine-tuning run's skills saw their env (skills.registry.policy_env), read from the
    config of the pretraining run it fine-tuned."""
    from cli.configs import read_run
    from cli.reuse import from_skills_run
    from skills.registry import policy_env

    skills = from_skills_run(config, lambda: read_run(config.skills_from, "pretrain").skills)
    return lambda env: policy_env(skills, env)


