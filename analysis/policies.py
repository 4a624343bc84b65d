"""Rebuild a run's deterministic policy from its checkpoint, for videos of any run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from agents.checkpoint import load_checkpoint
from agents.rundir import RunDirError, config_from_dict
from agents.sac import SAC, SACConfig
from envs.registry import make_env


def load_policy(run_dir: str | Path, config: dict, render_size: int = 240
                ) -> tuple[gym.Env, Callable[[np.ndarray], np.ndarray]]:
    """(a rendering env, policy(obs) -> action) of a train or finetune run."""
    command = config["command"]
    if command not in ("train", "finetune"):
        raise RunDirError(f"no policy video for a {command!r} run")
    state = load_checkpoint(Path(run_dir) / "checkpoints")
    from analysis.video import video_env

    env = video_env(lambda **kw: make_env(config["env"], **kw), render_size)
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    skill = config["extra"].get("skill")
    n_skills = config["extra"].get("n_skills", 0) if skill is not None else 0
    agent = SAC(obs_dim + n_skills, action_dim, config_from_dict(SACConfig, config["sac"]))
    agent.load_state_dict(state["agent"])
    one_hot = np.eye(n_skills, dtype=np.float32)[skill] if n_skills else np.zeros(0, np.float32)

    def policy(obs: np.ndarray) -> np.ndarray:
        return agent.act(np.concatenate([obs, one_hot]), deterministic=True)

    return env, policy
