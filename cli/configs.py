"""One typed config per training command, composed of its components' frozen dataclasses.

A run is data: `config.json` is `to_json(cfg)` and `from_json` reads it back whole (a partial
file, such as one in configs/, keeps the command's defaults for what it leaves out). The
defaults live here and in the components' dataclasses only; the CLI is derived from them
(cli/flags.py). Files written before the schema had a version (the run config with an untyped
`extra` block) are migrated when read.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from agents.config import ConfigError, check, from_dict, non_negative, positive, to_dict
from agents.discrete import DiscreteConfig
from agents.loop import LoopConfig
from agents.rundir import CONFIG, check_run_kind, read_config_dict
from agents.sac import SACConfig
from envs.skill_env import DURATIONS_RULE, durations_ok
from skills.diayn import DIAYNConfig

# 2: DIAYN's observe_feature (a v1 pretraining's policy never saw a feature its observation left
# out), and the hierarchy's semi-MDP return (discounted within a choice).
SCHEMA_VERSION = 2


def _skill_method(name: str):
    from skills.registry import config_class

    return config_class(name)()


def _skill_methods() -> list[str]:
    from skills.registry import METHODS

    return list(METHODS)


def _agent(name: str):
    from agents.registry import agent_config

    return agent_config(name)


def _agents() -> list[str]:
    from agents.registry import algo_names

    return algo_names()


SKILLS = {"registry": _skill_method, "key": "method", "names": _skill_methods}
AGENT = {"registry": _agent, "key": "algo", "names": _agents}


@dataclass(frozen=True)
class _Run:
    """What every training command has: the device and threads it runs on."""

    device: str = "cpu"
    """torch device of the networks and batches, e.g. cuda"""
    threads: int = 0
    """torch intra-op threads; 0 leaves torch's default (one per core)"""

    def __post_init__(self):
        non_negative(self, "threads")
        import torch

        try:
            torch.device(self.device)
        except RuntimeError:
            check(self, "device", False, "is not a torch device (cpu, cuda, cuda:1, mps)")

    @property
    def seed(self) -> int:
        return self.loop.seed

    @property
    def env_name(self) -> str:
        """The env the run steps in (the task, for commands that reuse skills)."""
        return self.env

    @property
    def env_kwargs(self) -> dict:
        """Options of the env's constructor that the run sets."""
        return {}


@dataclass(frozen=True)
class TrainConfig(_Run):
    """SAC from scratch on an env's reward."""

    command: ClassVar[str] = "train"
    env: str = "HalfCheetah-v5"
    """the environment's registry name (envs.registry.env_names())"""
    loop: LoopConfig = LoopConfig(total_steps=100_000)
    agent: Any = field(default=SACConfig(), metadata=AGENT)
    """the agent's config; `algo` names it: sac, td3, soft-td3, ddpg, soft-ddpg"""

    @property
    def agent_config(self) -> Any:
        return self.agent


@dataclass(frozen=True)
class PretrainConfig(_Run):
    """Skill discovery without reward: a skill method's intrinsic reward for SAC."""

    command: ClassVar[str] = "pretrain"
    env: str = "PointMass-v0"
    """the environment's registry name (envs.registry.env_names())"""
    loop: LoopConfig = LoopConfig(total_steps=25_000, eval_episodes=1)
    sac: SACConfig = SACConfig(learning_starts=2_000)
    skills: Any = field(default=DIAYNConfig(), metadata=SKILLS)
    """the skill method's config; `method` names it (skills/registry.py)"""
    terminate_when_unhealthy: bool = field(default=True, metadata={"cli": False})
    """end the episode when the robot falls (Hopper, Walker2d, Ant, Humanoid); off, it lies where
    it fell until the time limit: while DIAYN's reward log q(z|s') - log p(z) is negative a skill
    would raise its return by falling early"""
    env_options: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})
    """more keyword arguments for the env (gymnasium.make and the env's constructor), e.g.
    {"max_episode_steps": 200} for shorter episodes, which draw more skills for the same steps,
    {"include_cfrc_ext_in_observation": false} to drop Ant-v5's 78 contact forces, or
    {"terminate_when_flipped": true} to end an episode when an Ant or Humanoid turns over"""

    def __post_init__(self):
        super().__post_init__()
        check(self, "env_options", isinstance(self.env_options, dict),
              'must be a JSON object of the env\'s keyword arguments, e.g. {"max_episode_steps": 200}')

    @property
    def agent_config(self) -> Any:
        return self.sac

    @property
    def env_kwargs(self) -> dict:
        kwargs = dict(self.env_options)
        if not self.terminate_when_unhealthy:
            kwargs["terminate_when_unhealthy"] = False
        return kwargs


@dataclass(frozen=True)
class _Reuse(_Run):
    skills_from: str = ""
    """run dir of the pretraining run whose skills are reused"""
    task: str = ""
    """the task env, on the skills' robot"""

    @property
    def env_name(self) -> str:
        return self.task


@dataclass(frozen=True)
class FinetuneConfig(_Reuse):
    """The best pretrained skill fine-tuned on a task reward (or SAC from scratch beside it)."""

    command: ClassVar[str] = "finetune"
    scratch: bool = False
    """SAC from scratch with the same budget and network sizes, for comparison"""
    skill: int | None = field(default=None, metadata={"cli": False})
    """the skill fine-tuned; None: the skill with the best task return, chosen at the start"""
    loop: LoopConfig = LoopConfig(total_steps=50_000)
    sac: SACConfig = SACConfig(learning_starts=1_000)

    @property
    def agent_config(self) -> Any:
        return self.sac

    def __post_init__(self):
        super().__post_init__()
        non_negative(self, "skill")


@dataclass(frozen=True)
class HierarchyConfig(_Reuse):
    """A maxent controller (soft Q-learning) that picks a pretrained skill every k robot steps."""

    command: ClassVar[str] = "hierarchy"
    steps_per_skill: int = 10
    """k: robot steps per skill choice"""
    controller_obs: Literal["full", "task", "task+pose"] = field(default="full",
                                                                  metadata={"cli": False})
    """what the controller sees: the task's whole observation, only the entries the task appends
    to the robot's (AntWaypoints: the waypoint), or those and the torso's height and orientation"""
    last_skill_obs: bool = field(default=False, metadata={"cli": False})
    """the controller also sees which skill ran last (one-hot): the gait the next one starts from"""
    skill_rotations: Literal[1, 2, 4] = field(default=1, metadata={"cli": False})
    """also offer each skill turned about the vertical by half (2) or quarter (4) turns, K x this
    many choices (Ant only: its physics is the same in any heading, so a walk turns with it)"""
    durations: tuple[int, ...] = field(default=(1,), metadata={"cli": False})
    """how long a choice may run its skill, in units of k robot steps: (1, 10) offers every skill
    for k and for 10 k steps, K x 2 choices (the options' duration, chosen with the skill)"""
    loop: LoopConfig = LoopConfig(total_steps=20_000)
    agent: DiscreteConfig = DiscreteConfig()
    """the controller; its gamma is per robot step: a choice's task rewards are discounted within
    it and the next choice by gamma^n after its n robot steps (the semi-MDP return of options;
    with gamma per choice the horizon is k times too long, and the entropy bonus gathered over
    it outweighs a sparse goal that ends the episode)"""

    @property
    def agent_config(self) -> Any:
        return self.agent

    def __post_init__(self):
        super().__post_init__()
        positive(self, "steps_per_skill")
        check(self, "durations", durations_ok(self.durations), DURATIONS_RULE)
        if self.agent.stay_prior and not self.last_skill_obs:
            raise ConfigError("agent.stay_prior reads the previous skill from the controller's "
                              "observation: set last_skill_obs true, or stay_prior 0")
        if self.agent.stay_prior and len(self.durations) > 1:
            raise ConfigError("agent.stay_prior keeps the previous choice among the skills alone; "
                              "with several durations set stay_prior 0, or durations [1]")


COMMANDS: dict[str, type] = {c.command: c for c in (TrainConfig, PretrainConfig, FinetuneConfig,
                                                      HierarchyConfig)}


# ---------------------------------------------------------------- JSON


def to_json(cfg: Any) -> dict:
    return {"version": SCHEMA_VERSION, "command": cfg.command, **to_dict(cfg)}


def from_json(data: dict, command: str | None = None, where: str = "config") -> Any:
    """The config of `data` (a config.json, current or older, or a partial file), checked whole;
    `command` is required where the data does not name one, and must match where it does."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} is not a JSON object")
    data = migrate(data)
    named = data.pop("command", None)
    version = data.pop("version", SCHEMA_VERSION)
    if version > SCHEMA_VERSION:
        raise ConfigError(f"{where} has schema version {version}; this softskills reads up to "
                          f"{SCHEMA_VERSION}: update softskills")
    if named is not None and command is not None and named != command:
        raise ConfigError(f"{where} is a {named!r} config, not a {command!r} one")
    command = named or command
    if command not in COMMANDS:
        raise ConfigError(f"{where} names no command (one of {', '.join(COMMANDS)})")
    try:
        return from_dict(COMMANDS[command], data)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def read_file(path: str | Path, command: str) -> Any:
    """A config from a JSON file (`--config FILE`): a run's config.json or a partial one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config file {path} ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"config file {path} is not valid JSON ({e.msg}, line {e.lineno})") from None
    return from_json(data, command, where=str(path))


def read_run(run_dir: str | Path, command: str | tuple[str, ...] | None = None) -> Any:
    """The config of the run in `run_dir`, checked to be of `command` (one of them) if given."""
    data = check_run_kind(run_dir, command) if command else read_config_dict(run_dir)
    return from_json(data, where=str(Path(run_dir) / CONFIG))


def migrate(data: dict) -> dict:
    """Data of an older schema in the current layout; current data, and partial files (no
    `version` and no `extra`), unchanged."""
    if "version" not in data and "extra" in data:
        data = _migrate_v0(data)
    data = dict(data)
    skills = data.get("skills", {})
    if data.get("version") == 1 and data.get("command") == "pretrain" and \
            skills.get("method", "diayn") == "diayn":
        # Version 1 gave DIAYN's policy the observation alone, whatever the feature read.
        data["skills"] = {"observe_feature": False, **skills}
    if data.get("version") == 1:
        data["version"] = 2
    return data


def _migrate_v0(data: dict) -> dict:
    """Data of schema version 0 (no `version`: run, loop, sac and an untyped `extra` block) in
    the layout of version 1."""
    old = dict(data)
    command, extra = old.get("command"), dict(old.get("extra", {}))
    loop = dict(old.get("loop", {}), seed=old.get("seed", old.get("loop", {}).get("seed", 0)))
    new: dict[str, Any] = {"version": 1, "command": command, "device": old.get("device", "cpu"),
                           "threads": old.get("threads", 0), "loop": loop}
    if command == "train":
        new["env"], new["agent"] = old["env"], {"algo": "sac", **old.get("sac", {})}
    if command == "pretrain":
        new["env"], new["sac"] = old["env"], old.get("sac", {})
        new["skills"] = {"method": "diayn", **extra.get("diayn", {})}
    if command in ("finetune", "hierarchy"):
        new["task"], new["skills_from"] = old["env"], extra["skills_from"]
    if command == "finetune":
        new["sac"], new["scratch"] = old.get("sac", {}), bool(extra.get("scratch", False))
        new["skill"] = extra.get("skill")
    if command == "hierarchy":
        k = int(extra["steps_per_skill"])
        agent = dict(extra["discrete"])
        # Version 0 stored the controller's discount per choice, gamma^k; now it is per robot step.
        agent["gamma"] = math.exp(math.log(agent["gamma"]) / k) if agent.get("gamma") else 0.0
        new.update(steps_per_skill=k, agent=agent,
                   **{n: extra[n] for n in ("controller_obs", "last_skill_obs", "skill_rotations")
                      if n in extra})
    return new


def replace_paths(cfg: Any, updates: dict[tuple[str, ...], Any]) -> Any:
    """`cfg` with the field at each path (e.g. ("loop", "total_steps")) set to its value. Each
    config is rebuilt once with all of its new values, so that its checks see them together
    (METRA's skill count is checked against `continuous` whatever order the flags came in)."""
    direct = {p[0]: v for p, v in updates.items() if len(p) == 1}
    nested: dict[str, dict] = {}
    for p, v in updates.items():
        if len(p) > 1:
            nested.setdefault(p[0], {})[p[1:]] = v
    direct.update({name: replace_paths(getattr(cfg, name), sub) for name, sub in nested.items()})
    return dataclasses.replace(cfg, **direct)


def has_path(cfg: Any, path: tuple[str, ...]) -> bool:
    """Whether `cfg` has a field at `path` (a run's agent or skill config may lack a field
    that another one has)."""
    for name in path:
        if not dataclasses.is_dataclass(cfg) or name not in {f.name for f in dataclasses.fields(cfg)}:
            return False
        cfg = getattr(cfg, name)
    return True


def get_path(cfg: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        cfg = getattr(cfg, name)
    return cfg
