"""run.py finetune and hierarchy: skills from a pretraining run put to work on a task."""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agents.config import ConfigError
from cli.configs import FinetuneConfig, HierarchyConfig
from cli.runs import run_training


def skill_library(cfg, existing: bool = False):
    """The skills a finetune or hierarchy run (its config) reuses, checked against its task.
    `existing`: the run was made before (resumed, visualized), so a pretraining run that cannot
    be read has moved or gone since, which the error says."""
    from envs.registry import check_same_robot
    from skills.library import SkillLibrary

    if not cfg.skills_from or not cfg.task:
        raise ConfigError(f"a new {cfg.command} run needs --skills-from and --task (a resumed one "
                          "reads them from its config.json)")
    load = functools.partial(SkillLibrary.load, cfg.skills_from, device=cfg.device)
    lib = from_skills_run(cfg, load) if existing else load()
    check_same_robot(lib.env_name, cfg.task)
    if lib.continuous_dim:
        # Both commands choose among K skills: the best one, or one every k steps.
        raise ConfigError(f"{cfg.skills_from} has continuous skills (z in R^{lib.continuous_dim}); "
                          f"run.py {cfg.command} chooses among discrete ones: pretrain without "
                          "--continuous, or drive envs.skill_env.SkillEnv (a Box of z) with a "
                          "continuous agent from Python")
    return lib


def from_skills_run(cfg, read: Callable[[], Any]) -> Any:
    """read() of the pretraining run that an existing finetune or hierarchy run reuses, or one
    RunDirError saying to restore it (where a relative path is looked for, too)."""
    from agents.rundir import RunDirError

    try:
        return read()
    except (RunDirError, OSError) as e:
        where = "" if Path(cfg.skills_from).is_absolute() else f", relative to {Path.cwd()}"
        raise RunDirError(f"the {cfg.command} run's skills are read from its pretraining run, "
                          f"which cannot be read ({e}); restore {cfg.skills_from}{where}") from None


def _check_task(task: str, library, cfg: HierarchyConfig) -> None:
    """Refuse, with a one-line error before anything is built, skill rotations the skills'
    observation cannot take, and --controller-obs task or task+pose where the task has no
    entries of its own (or no pose_obs_dim): both checked on one env of the task."""
    from envs.registry import make_env
    from envs.skill_env import controller_index
    from skills.symmetry import RotatedSkills

    env = make_env(task)
    try:
        try:
            RotatedSkills(library, cfg.skill_rotations).observed_feature(env)
        except ValueError as e:
            raise ConfigError(f"skill_rotations: {e}") from None
        try:
            controller_index(env, cfg.controller_obs)
        except ValueError as e:
            raise ConfigError(f"controller_obs {cfg.controller_obs!r}: {e}") from None
    finally:
        env.close()


def finetune(cfg: FinetuneConfig, run_dir: str | Path, resume: bool = False) -> dict[str, float]:
    """Evaluate every skill on the task, pick the best, and train SAC from its pretrained actor
    and critics with that skill fixed; or, with `scratch`, SAC from scratch on the same budget
    and network sizes (sac.hidden is always the skills' own). Where the task appends entries to
    the robot's observation, the pretrained networks get inputs of zero weight for them."""
    from envs.registry import make_env
    from envs.skill_env import skill_obs_dim
    from skills.reuse import FixedSkill, insert_inputs, skill_task_returns

    lib = skill_library(cfg, existing=resume)
    cfg = replace(cfg, sac=replace(cfg.sac, hidden=lib.agent.cfg.hidden))
    if cfg.scratch:  # fresh networks: any task observation fits them
        return run_training(cfg, run_dir, resume)
    env = make_env(cfg.task)
    # Entries the task appends to what the skills saw (AntWaypoints' waypoint, CheetahHurdle's
    # next hurdle): they sit after the robot's, before the skills' feature and one-hot.
    seen = skill_obs_dim(env, lib)
    new = env.observation_space.shape[0] - seen
    env.close()
    if cfg.skill is None:  # a new run: choose the skill (a resumed one has it)
        returns = skill_task_returns(lib, lambda: make_env(cfg.task, seed=cfg.seed + 10_000),
                                     cfg.loop.eval_episodes)
        _write_skill_returns(Path(run_dir), returns)
        print("task return per skill: " + ", ".join(f"z={z}: {r:.1f}" for z, r in enumerate(returns))
              + f"; fine-tuning z={int(returns.argmax())}")
        # the skill already acts better than chance: no random warm-up
        cfg = replace(cfg, skill=int(returns.argmax()), loop=replace(cfg.loop, random_warmup=False))
    if cfg.skill >= lib.n_skills:
        raise ConfigError(f"skill {cfg.skill} does not exist: {cfg.skills_from} has skills 0.."
                          f"{lib.n_skills - 1}")

    def init_agent(agent) -> None:
        # Networks from pretraining, fresh optimizers for the new reward. The temperature too,
        # unless the run fixes its own (sac.alpha).
        pre = lib.agent
        for net, first in (("actor", "trunk.0.weight"), ("critic", "weights.0"),
                           ("critic_target", "weights.0")):
            state = getattr(pre, net).state_dict()
            if new:  # zero weights on the task's entries: the run starts as the skill
                state[first] = insert_inputs(state[first], seen, new)
            getattr(agent, net).load_state_dict(state)
        if agent.learn_alpha:
            agent.log_alpha.data.copy_(pre.log_alpha.data)

    # The skill's networks take what it saw in pretraining: the task's observation with the
    # skills' feature appended where the robot's observation leaves it out.
    return run_training(cfg, run_dir, resume, init_agent=init_agent, wrap_env=lib.observed,
                        make_plugin=lambda env, eval_env: (FixedSkill(cfg.skill, lib.n_skills), None))


def hierarchy(cfg: HierarchyConfig, run_dir: str | Path, resume: bool = False) -> dict[str, float]:
    """A maxent discrete controller (soft Q-learning, auto-tuned alpha) that picks one of the
    frozen skills every k steps of the task; loop.total_steps counts the robot's steps."""
    from agents.discrete import SoftQ
    from agents.rundir import RunDirError, read_config_dict

    if resume and read_config_dict(run_dir).get("version", 0) < 2:
        # Its buffer holds choices' undiscounted rewards, which the semi-MDP target would misread.
        raise RunDirError(f"{run_dir} was trained before the controller's return was discounted "
                          "within each choice (schema version 2) and cannot resume; start a new "
                          f"run with --config {Path(run_dir) / 'config.json'}")
    lib = skill_library(cfg, existing=resume)
    _check_task(cfg.task, lib, cfg)
    def make_agent(obs_dim: int, space):
        return SoftQ.build(obs_dim, space, cfg.agent_config, device=cfg.device)

    return run_training(cfg, run_dir, resume, wrap_env=lambda env: hierarchy_env(env, lib, cfg),
                        make_agent=make_agent)


def hierarchy_env(task_env, library, cfg: HierarchyConfig):
    """The SkillEnv a hierarchy run's controller acts in, as its config describes it."""
    from envs.skill_env import SkillEnv
    from skills.symmetry import RotatedSkills

    if cfg.skill_rotations > 1:
        library = RotatedSkills(library, cfg.skill_rotations)
    return SkillEnv(task_env, library, cfg.steps_per_skill, cfg.controller_obs, cfg.last_skill_obs,
                    gamma=cfg.agent.gamma, durations=cfg.durations)


def _write_skill_returns(run_dir: Path, returns) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "skill_returns.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["skill", "task_return"])
        w.writerows(enumerate(float(r) for r in returns))
