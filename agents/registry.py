"""The agents by name (`run.py train --algo NAME`), and the checks that an env's actions are what
an agent can take.

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
                          "pick an env with continuous actions, or --algo sql-discrete for discrete ones")
    return int(action_space.shape[0])


def require_discrete(action_space: gym.Space, agent: str) -> int:
    """The number of actions, or a ConfigError where they are not one Discrete choice."""
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ConfigError(f"{agent} needs a Discrete action space, not {action_space}: pick an env "
                          "with discrete actions, or --algo sac, td3 or sql for continuous ones")
    return int(action_space.n)


def _agents() -> dict[str, type]:
    from agents.discrete import SoftQ
    from agents.sac import SAC
    from agents.sql import SoftQLearning
    from agents.td3 import TD3

    return {"sac": SAC, "td3": TD3, "sql": SoftQLearning, "sql-discrete": SoftQ}


def _variants() -> dict[str, Any]:
    """Every name --algo takes, with the config it starts from."""
    from agents.td3 import VARIANTS, TD3Config

    out = {name: cls.Config() for name, cls in _agents().items()}
    out.update({name: dataclasses.replace(TD3Config(), **preset) for name, preset in VARIANTS.items()})
    return out


def algo_name(agent: dict) -> str:
    """The --algo name that a run's saved agent config (config.json's "agent") was trained as: its
    algo, or the most specific variant whose preset its fields hold (soft-td3, ddpg, soft-ddpg),
    so that runs of two variants are not taken for seeds of one. "sac" where no algo is saved
    (config.json before agents were named)."""
    from agents.td3 import VARIANTS, TD3Config

    algo = agent.get("algo", "sac")
    if algo != TD3Config.algo:
        return algo
    matching = [(len(preset), name) for name, preset in VARIANTS.items()
                if all(agent.get(k) == v for k, v in preset.items())]
    return max(matching)[1]


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
