"""The skill methods by name: `run.py pretrain --method NAME` and a run's config.json name one.

A skill method is a class with
- `Config`: its frozen config dataclass, with a `method: ClassVar[str]` naming it here, and an
  instance's `cfg`, the config it was built from;
- `build(env, cfg, device)`: the method for `env`, its feature of the state made from the
  config's name for it;
- the loop's `SkillPlugin` protocol (agents/loop.py): `n_skills`, `skill_dim` (entries appended
  to the observation), `skill_steps`, `feature_fn`, `sample_skill`, `condition`, `relabel`,
  `update`, `state_dict`, `load_state_dict`;
- for evaluation and the library: `feature_for(env)` and `predict(features)`, log q(. | f(s))
  (None for a method without a classifier of skills: METRA, LSD);
- optionally `policy_env(cfg, env)`: the env as the skill policy sees it (DIAYN appends a
  feature its reward reads and the observation leaves out); without it, the env itself.

Adding a method is one file in skills/ and one line in METHODS.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from agents.config import ConfigError
from skills.diayn import DIAYN
from skills.lsd import LSD
from skills.metra import METRA

METHODS: dict[str, type] = {"diayn": DIAYN, "metra": METRA, "lsd": LSD}


def method_class(name: str) -> type:
    if name not in METHODS:
        raise ConfigError(f"unknown skill method {name!r}; valid methods: {', '.join(METHODS)}")
    return METHODS[name]


def config_class(name: str) -> type:
    """The config dataclass of method `name` (how config.json's `skills` block is read)."""
    return method_class(name).Config


def build_method(cfg: Any, env: gym.Env, device: str = "cpu"):
    """The skill method that `cfg` describes, for `env`: one builder for training, the library
    and analysis."""
    return method_class(type(cfg).method).build(env, cfg, device)


def policy_env(cfg: Any, env: gym.Env) -> gym.Env:
    """`env` as the policy of method config `cfg` sees it, for training, evaluation and reuse."""
    observe = getattr(method_class(type(cfg).method), "policy_env", None)
    return env if observe is None else observe(cfg, env)
