"""The continuous-control agents by name (`run.py train --algo NAME`), and the check that an env's
actions are what an agent can take.

An agent is a class with `Config` (a frozen dataclass with `algo: ClassVar[str]`, its name in
config.json), `build(obs_dim, action_space, cfg, device)`, and the loop's `Agent` protocol
(agents/loop.py). `--algo` may also name a variant: a preset of one agent's config.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym

from agents.config import ConfigError


def require_box(action_space: gym.Space, agent: str) -> int:
    """The action dimension, or a ConfigError where the actions are not continuous."""
    if not isinstance(action_space, gym.spaces.Box):
        raise ConfigError(f"{agent} needs a continuous (Box) action space, not {action_space}: "
                          "pick an env with continuous actions")
    return int(action_space.shape[0])


def _agents() -> dict[str, type]:
    from agents.sac import SAC
    from agents.sql import SoftQLearning
    from agents.td3 import TD3

    return {"sac": SAC, "td3": TD3, "sql": SoftQLearning}


def _variants() -> dict[str, Any]:
    """Every name --algo takes, with the config it starts from."""
    from agents.td3 import VARIANTS, TD3Config

    out = {name: cls.Config() for name, cls in _agents().items()}
    out.update({name: dataclasses.replace(TD3Config(), **preset) for name, preset in VARIANTS.items()})
    return out


def algo_names() -> list[str]:
    return list(_variants())


def agent_config(name: str) -> Any:
    """The config `--algo name` starts from."""
    variants = _variants()
    if name not in variants:
        raise ConfigError(f"unknown algorithm {name!r}; valid: {', '.join(variants)}")
    return variants[name]


def build_agent(cfg: Any, obs_dim: int, action_space: gym.Space, device: str = "cpu"):
    """The agent that `cfg` describes, for an env with `action_space`."""
    return _agents()[type(cfg).algo].build(obs_dim, action_space, cfg, device)
