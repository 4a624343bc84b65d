"""What every training command shares: the run config, resolving it (new run or --resume),
and building env, agent and skill plug-in for the one loop."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from agents.rundir import ConfigError, RunDirError, check_run_kind, config_from_dict


@dataclass(frozen=True)
class RunConfig:
    """Everything a run was started with; written to config.json, read back by --resume."""

    command: str
    """which command made the run: train | pretrain | finetune | hierarchy"""
    env: str
    """the environment's registry name"""
    seed: int
    """the run's seed (also in loop.seed)"""
    device: str = "cpu"
    """torch device of the networks"""
    threads: int = 0
    """torch intra-op threads; 0 leaves torch's default (one per core)"""
    loop: dict = field(default_factory=dict)
    sac: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    """the skill method's or the task's own config, by command"""


def loop_and_sac_config(args: argparse.Namespace) -> tuple:
    from agents.loop import LoopConfig
    from agents.sac import SACConfig

    n = args.total_steps if args.total_steps is not None else args.default_total_steps
    every = max(1, n // 20)
    loop = LoopConfig(
        total_steps=n,
        eval_every=args.eval_every or every,
        eval_episodes=args.eval_episodes,
        log_every=args.log_every or max(1, min(1_000, every)),
        checkpoint_every=args.checkpoint_every or max(1, n // 10),
        seed=args.seed,
        progress=not args.no_progress,
    )
    sac = SACConfig(
        hidden=tuple(args.hidden), actor_lr=args.lr, critic_lr=args.lr, alpha_lr=args.lr,
        gamma=args.gamma, batch_size=args.batch_size, gradient_steps=args.gradient_steps,
        learning_starts=args.learning_starts, alpha=args.alpha, target_entropy=args.target_entropy,
    )
    return loop, sac


def resolve_config(args: argparse.Namespace, extra: dict | None = None,
                   sac_overrides: dict | None = None) -> RunConfig:
    """The run's config: from the flags for a new run, from config.json for --resume (where
    only --total-steps may change, to extend a run, and --threads, which is the machine's
    business and not the run's)."""
    if args.resume:
        data = check_run_kind(args.run_dir, args.command)
        cfg = config_from_dict(RunConfig, data)
        total = cfg.loop["total_steps"] if args.total_steps is None else args.total_steps
        loop = dict(cfg.loop, total_steps=total, progress=not args.no_progress)
        return replace(cfg, loop=loop, threads=args.threads or cfg.threads)
    ckpt = Path(args.run_dir) / "checkpoints"
    if ckpt.exists() and any(ckpt.iterdir()):
        raise RunDirError(f"{args.run_dir} already holds a run: pass --resume to continue it, "
                          "or choose another --run-dir")
    loop, sac = loop_and_sac_config(args)
    if sac_overrides:
        sac = replace(sac, **sac_overrides)
    return RunConfig(command=args.command, env=args.env, seed=args.seed, device=args.device,
                     threads=args.threads, loop=asdict(loop), sac=asdict(sac), extra=extra or {})


def build_and_run(args: argparse.Namespace, cfg: RunConfig, make_plugin=None, init_agent=None,
                  wrap_env=None, make_agent=None) -> None:
    """Build env, agent and (optionally) a skill plug-in from `cfg`, and run the one loop.

    `make_plugin(env, eval_env)` returns (plugin, feature_fn, evaluate) for skill methods;
    `init_agent(agent)` sets a new agent's weights (fine-tuning starts from pretrained ones);
    `wrap_env(env)` wraps train and eval envs (the hierarchy's SkillEnv);
    `make_agent(obs_dim, action_space)` replaces SAC (the hierarchy's discrete agent)."""
    from agents.rundir import hold_run_dir

    with hold_run_dir(args.run_dir):
        _build_and_run(args, cfg, make_plugin, init_agent, wrap_env, make_agent)


def _build_and_run(args, cfg, make_plugin, init_agent, wrap_env, make_agent) -> None:
    from agents.loop import LoopConfig, OffPolicyLoop, evaluate_returns
    from agents.rundir import config_from_dict, write_config
    from agents.sac import SAC, SACConfig
    from envs.registry import make_env

    loop_cfg = config_from_dict(LoopConfig, cfg.loop)
    sac_cfg = config_from_dict(SACConfig, cfg.sac)
    setup_torch(cfg)
    env = make_env(cfg.env, seed=cfg.seed)
    eval_env = make_env(cfg.env, seed=cfg.seed + 10_000)
    if wrap_env is not None:
        env, eval_env = wrap_env(env), wrap_env(eval_env)
    plugin, feature_fn, evaluate = None, None, None
    if make_plugin is not None:
        plugin, feature_fn, evaluate = make_plugin(env, eval_env)
    if evaluate is None:
        def evaluate(policy):
            return evaluate_returns(eval_env, policy, loop_cfg.eval_episodes)
    obs_dim = env.observation_space.shape[0] + (plugin.n_skills if plugin else 0)
    if make_agent is None:
        agent = SAC(obs_dim, env.action_space.shape[0], sac_cfg, device=cfg.device)
    else:
        agent = make_agent(obs_dim, env.action_space)
    if init_agent is not None:
        init_agent(agent)
    write_config(args.run_dir, cfg)
    loop = OffPolicyLoop(loop_cfg, env, agent, evaluate, args.run_dir, plugin=plugin,
                         feature_fn=feature_fn)
    final = loop.run(resume=args.resume)
    shown = ", ".join(f"{k} {v:.3g}" for k, v in final.items()
                      if k in ("eval/return", "eval/disc_accuracy", "eval/coverage"))
    print(f"done: {loop.step} steps; {shown}; run dir {args.run_dir}")


def setup_torch(cfg: RunConfig) -> None:
    import torch

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    # Before the networks are built: their initial weights are part of the seeded run, and must
    # not depend on what the process ran before (benchmarks and tests run several in one).
    torch.manual_seed(cfg.seed)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {cfg.device} asked for, but torch sees no CUDA device")


