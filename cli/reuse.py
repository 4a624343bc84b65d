"""run.py finetune and hierarchy: skills from a pretraining run put to work on a task."""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import asdict, replace
from pathlib import Path

from cli.runs import build_and_run, resolve_config


def _skills_and_task(args: argparse.Namespace) -> None:
    """--skills-from and --task: from the flags for a new run; from config.json for --resume, where
    a flag that names something else than the run used is refused (one run, one skill set)."""
    from agents.rundir import ConfigError, check_run_kind

    if not args.resume:
        if args.skills_from is None or args.task is None:
            raise ConfigError("a new run needs --skills-from and --task (a resumed one reads them "
                              "from its config.json)")
        return
    data = check_run_kind(args.run_dir, args.command)
    for flag, name, saved, same in (
            ("--skills-from", "skills_from", data["extra"]["skills_from"],
             lambda a, b: Path(a).resolve() == Path(b).resolve()),  # ./skills is skills
            ("--task", "task", data["env"], lambda a, b: a == b)):
        given = getattr(args, name)
        if given is not None and not same(str(given), saved):
            raise ConfigError(f"{args.run_dir} was run with {flag} {saved}, not {given}; "
                              f"resume it without {flag}, or start a new run elsewhere")
        setattr(args, name, saved)


def _library(args: argparse.Namespace):
    from envs.registry import check_same_robot
    from skills.library import SkillLibrary

    _skills_and_task(args)
    lib = SkillLibrary.load(args.skills_from, device=args.device)
    check_same_robot(lib.env_name, args.task)
    return lib


def _check_robot_observation(task: str) -> None:
    """Fine-tuning continues the skill's own networks, whose input is the robot's observation: a
    task that appends entries of its own (AntWaypoints' waypoint) does not fit them."""
    from agents.rundir import ConfigError
    from envs.registry import make_env
    from envs.skill_env import robot_obs_dim

    env = make_env(task)
    robot, total = robot_obs_dim(env), env.observation_space.shape[0]
    env.close()
    if total != robot:
        raise ConfigError(f"{task} appends {total - robot} entries to the robot's {robot}-entry "
                          "observation, which the skills' networks cannot take; reuse the skills "
                          "there with `run.py hierarchy`")


def _check_controller_obs(task: str, observe: str) -> None:
    """Refuse --controller-obs task or task+pose where the task has no entries of its own (or no
    pose_obs_dim): a one-line error before anything is built."""
    from agents.rundir import ConfigError
    from envs.registry import make_env
    from envs.skill_env import controller_index

    env = make_env(task)
    try:
        controller_index(env, observe)
    except ValueError as e:
        raise ConfigError(f"--controller-obs {observe}: {e}") from None
    finally:
        env.close()


def cmd_finetune(args: argparse.Namespace) -> None:
    """Evaluate every skill on the task, pick the best, and train SAC from its pretrained actor
    and critics with that skill fixed; or, with --scratch, SAC from scratch on the same budget."""
    from envs.registry import make_env
    from skills.reuse import FixedSkill, skill_task_returns

    lib = _library(args)
    args.env = args.task
    extra = {"skills_from": str(args.skills_from), "scratch": args.scratch, "n_skills": lib.n_skills}
    cfg = resolve_config(args, extra=extra, sac_overrides={"hidden": lib.agent.cfg.hidden})
    if cfg.extra["scratch"]:  # fresh networks: any task observation fits them
        build_and_run(args, cfg)
        return
    _check_robot_observation(args.task)
    if "skill" not in cfg.extra:  # a new run: choose the skill (a resumed one has it)
        returns = skill_task_returns(lib, lambda: make_env(cfg.env, seed=cfg.seed + 10_000),
                                     cfg.loop["eval_episodes"])
        _write_skill_returns(Path(args.run_dir), returns)
        print("task return per skill: " + ", ".join(f"z={z}: {r:.1f}" for z, r in enumerate(returns))
              + f"; fine-tuning z={int(returns.argmax())}")
        extra = dict(cfg.extra, skill=int(returns.argmax()), skill_returns=returns.tolist())
        # the skill already acts better than chance: no random warm-up
        cfg = replace(cfg, extra=extra, loop=dict(cfg.loop, random_warmup=False))
    skill = int(cfg.extra["skill"])

    def init_agent(agent) -> None:
        # Networks and temperature from pretraining; fresh optimizers for the new reward.
        pre = lib.agent
        agent.actor.load_state_dict(pre.actor.state_dict())
        agent.critic.load_state_dict(pre.critic.state_dict())
        agent.critic_target.load_state_dict(pre.critic_target.state_dict())
        agent.log_alpha.data.copy_(pre.log_alpha.data)

    build_and_run(args, cfg, lambda env, eval_env: (FixedSkill(skill, lib.n_skills), None, None),
                  init_agent=init_agent)


def cmd_hierarchy(args: argparse.Namespace) -> None:
    """A maxent discrete controller (soft Q-learning, auto-tuned alpha) that picks one of the K
    frozen skills every k steps of the task; --total-steps counts the robot's steps."""
    from agents.discrete import DiscreteConfig, SoftQ
    from agents.rundir import ConfigError, config_from_dict
    from skills.symmetry import RotatedSkills

    if args.steps_per_skill < 1:
        raise ConfigError(f"--steps-per-skill must be at least 1, got {args.steps_per_skill}")
    lib = _library(args)
    try:
        n_choices = RotatedSkills(lib, args.skill_rotations).n_skills
    except ValueError as e:
        raise ConfigError(f"--skill-rotations: {e}") from None
    args.env = args.task
    # --gamma discounts one robot step; the controller's transition spans k of them, so its
    # discount is gamma^k (the semi-MDP Bellman equation of options, Sutton, Precup & Singh
    # 1999). With gamma per macro step the horizon is k times too long, and the entropy bonus
    # gathered over it outweighs a sparse goal that ends the episode: the controller found the
    # goal, then learned to avoid it (benchmarks/RESULTS.md, hierarchy).
    discrete = DiscreteConfig(
        hidden=tuple(args.hidden), q_lr=args.lr, alpha_lr=args.lr, gamma=args.gamma ** args.steps_per_skill,
        batch_size=args.batch_size, gradient_steps=args.gradient_steps,
        learning_starts=args.learning_starts, alpha=args.alpha,
        greedy_on_target=args.greedy_on_target,
        **({} if args.target_entropy is None else  # --target-entropy is in nats, as for SAC
           {"target_entropy_ratio": args.target_entropy / math.log(n_choices)}))
    extra = {"skills_from": str(args.skills_from), "steps_per_skill": args.steps_per_skill,
             "controller_obs": args.controller_obs, "last_skill_obs": args.last_skill_obs,
             "skill_rotations": args.skill_rotations, "n_skills": lib.n_skills,
             "discrete": asdict(discrete)}
    cfg = resolve_config(args, extra=extra)
    cfg = replace(cfg, sac={})  # the controller is not SAC; its config is extra["discrete"]
    discrete = config_from_dict(DiscreteConfig, cfg.extra["discrete"])
    if cfg.extra.get("controller_obs", "full") != "full":
        _check_controller_obs(cfg.env, cfg.extra["controller_obs"])
    build_and_run(args, cfg, wrap_env=lambda env: hierarchy_env(env, lib, cfg.extra),
                  make_agent=lambda obs_dim, space: SoftQ(obs_dim, int(space.n), discrete,
                                                          device=cfg.device))


def hierarchy_env(task_env, library, extra: dict):
    """The SkillEnv a hierarchy run's controller acts in, from its config's `extra` (runs from
    before --controller-obs saw the task's whole observation, and no last skill or rotations)."""
    from envs.skill_env import SkillEnv
    from skills.symmetry import RotatedSkills

    rotations = int(extra.get("skill_rotations", 1))
    if rotations > 1:
        library = RotatedSkills(library, rotations)
    return SkillEnv(task_env, library, int(extra["steps_per_skill"]),
                    extra.get("controller_obs", "full"), extra.get("last_skill_obs", False))


def _write_skill_returns(run_dir: Path, returns) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "skill_returns.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["skill", "task_return"])
        w.writerows(enumerate(float(r) for r in returns))
