"""softskills command line: train | pretrain | finetune | hierarchy | visualize | analyze.

Each command builds its components from typed configs and hands them to the one loop
(agents/loop.py). A bad flag, an unknown env, a missing or corrupt checkpoint or a run dir that
is not the right kind of run is reported in one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

# MuJoCo picks its GL backend at import; without a display GLFW would abort the process.
os.environ.setdefault("MUJOCO_GL", "egl")


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


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (and exit 2, as argparse does)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _common(p: argparse.ArgumentParser, total_steps: int, learning_starts: int) -> None:
    p.add_argument("--run-dir", required=True, help="directory the run writes (or resumes)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--total-steps", type=int, default=total_steps, help="environment steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--eval-every", type=int, default=None, help="steps between evaluations")
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--log-every", type=int, default=None, help="steps between metrics rows")
    p.add_argument("--checkpoint-every", type=int, default=None)
    p.add_argument("--learning-starts", type=int, default=learning_starts,
                   help="random-action steps before the first update")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256], help="hidden layer sizes")
    p.add_argument("--gradient-steps", type=int, default=1, help="updates per env step")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate of actor, critics, alpha")
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--alpha", type=float, default=None, help="fixed temperature (default: learned)")
    p.add_argument("--target-entropy", type=float, default=None, help="default: -dim(A)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="run.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    p = sub.add_parser("train", help="SAC from scratch on an env's reward")
    p.add_argument("--env", default="HalfCheetah-v5")
    _common(p, total_steps=100_000, learning_starts=5_000)

    p = sub.add_parser("pretrain", help="DIAYN skill discovery without reward")
    p.add_argument("--env", default="PointMass-v0")
    p.add_argument("--skills", type=int, default=None, help="number of skills K (default 8)")
    p.add_argument("--feature", default=None,
                   help="what the discriminator sees: the full observation (default) or a position "
                        "the env exposes: xy (DIAYN+prior), x")
    p.add_argument("--disc-hidden", type=int, nargs="+", default=[256, 256],
                   help="discriminator hidden sizes")
    p.add_argument("--reward-scale", type=float, default=1.0, help="scale of the DIAYN reward")
    _common(p, total_steps=20_000, learning_starts=2_000)
    p.add_argument("--no-visualize", action="store_true",
                   help="skip the videos, plots and report written at the end")
    p.set_defaults(eval_episodes=1)

    p = sub.add_parser("visualize", help="videos, plots and report.md of a run, into RUN_DIR/media")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--steps", type=int, default=None, help="steps per rollout (default: an episode)")
    p.add_argument("--size", type=int, default=240, help="frame width and height in pixels")
    p.add_argument("--gif", action="store_true", help="gif instead of mp4")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("analyze", help="compare runs: learning curves over seeds, a final table")
    p.add_argument("run_dirs", nargs="+", help="run dirs, or parent dirs of runs")
    p.add_argument("--out", required=True, help="directory for the plots and analysis.md")
    p.add_argument("--metric", action="append", default=None,
                   help="metric to compare (repeatable; default: the usual ones the runs have)")
    return parser


def loop_and_sac_config(args: argparse.Namespace) -> tuple:
    from agents.loop import LoopConfig
    from agents.sac import SACConfig

    n = args.total_steps
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


def resolve_config(args: argparse.Namespace, extra: dict | None = None) -> RunConfig:
    """The run's config: from the flags for a new run, from config.json for --resume (where
    only --total-steps may change, to extend a run)."""
    from dataclasses import asdict

    from agents.rundir import check_run_kind, config_from_dict

    if args.resume:
        data = check_run_kind(args.run_dir, args.command)
        cfg = config_from_dict(RunConfig, data)
        loop = dict(cfg.loop, total_steps=args.total_steps, progress=not args.no_progress)
        return replace(cfg, loop=loop)
    ckpt = Path(args.run_dir) / "checkpoints"
    if ckpt.exists() and any(ckpt.iterdir()):
        from agents.rundir import RunDirError

        raise RunDirError(f"{args.run_dir} already holds a run: pass --resume to continue it, "
                          "or choose another --run-dir")
    loop, sac = loop_and_sac_config(args)
    return RunConfig(command=args.command, env=args.env, seed=args.seed, device=args.device,
                     threads=args.threads, loop=asdict(loop), sac=asdict(sac), extra=extra or {})


def build_and_run(args: argparse.Namespace, cfg: RunConfig, make_plugin=None) -> None:
    """Build env, agent and (optionally) a skill plug-in from `cfg`, and run the one loop.

    `make_plugin(env, eval_env)` returns (plugin, feature_fn, evaluate) for skill methods."""
    from agents.loop import LoopConfig, OffPolicyLoop, evaluate_returns
    from agents.rundir import config_from_dict, write_config
    from agents.sac import SAC, SACConfig
    from envs.registry import make_env

    loop_cfg = config_from_dict(LoopConfig, cfg.loop)
    sac_cfg = config_from_dict(SACConfig, cfg.sac)
    setup_torch(cfg)
    env = make_env(cfg.env, seed=cfg.seed)
    eval_env = make_env(cfg.env, seed=cfg.seed + 10_000)
    plugin, feature_fn, evaluate = None, None, None
    if make_plugin is not None:
        plugin, feature_fn, evaluate = make_plugin(env, eval_env)
    if evaluate is None:
        def evaluate(policy):
            return evaluate_returns(eval_env, policy, loop_cfg.eval_episodes)
    obs_dim = env.observation_space.shape[0] + (plugin.n_skills if plugin else 0)
    agent = SAC(obs_dim, env.action_space.shape[0], sac_cfg, device=cfg.device)
    write_config(args.run_dir, cfg)
    loop = OffPolicyLoop(loop_cfg, env, agent, evaluate, args.run_dir, plugin=plugin,
                         feature_fn=feature_fn)
    final = loop.run(resume=args.resume)
    shown = ", ".join(f"{k} {v:.3g}" for k, v in final.items()
                      if k in ("eval/return", "eval/disc_accuracy", "eval/coverage"))
    print(f"done: {loop.step} steps; {shown}; run dir {args.run_dir}")


def cmd_train(args: argparse.Namespace) -> None:
    build_and_run(args, resolve_config(args))


def cmd_pretrain(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from agents.rundir import ConfigError, config_from_dict
    from skills.diayn import DIAYN, DIAYNConfig
    from skills.evaluate import skill_evaluator

    if args.skills is not None and args.skills < 2:
        raise ConfigError(f"--skills must be at least 2 (got {args.skills}): one skill has nothing "
                          "to be told apart from")
    diayn = DIAYNConfig(n_skills=args.skills or 8, feature=args.feature,
                        hidden=tuple(args.disc_hidden), reward_scale=args.reward_scale)
    cfg = resolve_config(args, extra={"diayn": asdict(diayn)})
    diayn = config_from_dict(DIAYNConfig, cfg.extra["diayn"])

    def make_plugin(env, eval_env):
        from envs.registry import env_features

        feats = env_features(env)
        if diayn.feature is not None and diayn.feature not in feats:
            raise ConfigError(f"env {cfg.env} exposes no feature {diayn.feature!r}; it exposes: "
                              f"{', '.join(feats) or 'none (use the full observation)'}")
        feature_fn = feats[diayn.feature] if diayn.feature else None
        feature_dim = env.observation_space.shape[0] if feature_fn is None else feature_fn().size
        plugin = DIAYN(feature_dim, diayn, device=cfg.device)
        evaluate = skill_evaluator(eval_env, plugin, diayn.feature,
                                   episodes=cfg.loop.get("eval_episodes", 1))
        return plugin, feature_fn, evaluate

    build_and_run(args, cfg, make_plugin)
    if not args.no_visualize:
        from analysis.report import visualize

        report = visualize(args.run_dir)
        print(f"report: {report}\nmedia:  {report.parent / 'media'}")


def setup_torch(cfg: RunConfig) -> None:
    import torch

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        from agents.rundir import ConfigError

        raise ConfigError(f"--device {cfg.device} asked for, but torch sees no CUDA device")


def cmd_visualize(args: argparse.Namespace) -> None:
    from analysis.report import visualize

    report = visualize(args.run_dir, steps=args.steps, size=args.size, gif=args.gif, seed=args.seed)
    print(f"report: {report}\nmedia:  {report.parent / 'media'}")


def cmd_analyze(args: argparse.Namespace) -> None:
    from analysis.report import analyze

    report = analyze(args.run_dirs, args.out, args.metric)
    print(f"analysis: {report}")


COMMANDS = {"train": cmd_train, "pretrain": cmd_pretrain, "visualize": cmd_visualize,
            "analyze": cmd_analyze}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agents.checkpoint import CheckpointError
    from agents.rundir import ConfigError
    from analysis.runs import MetricNotFoundError
    from analysis.video import RenderingUnavailable
    from envs.registry import UnknownEnvError

    try:
        COMMANDS[args.command](args)
    except (CheckpointError, ConfigError, UnknownEnvError, MetricNotFoundError,
            RenderingUnavailable) as e:
        print(f"run.py {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"run.py {args.command}: {e or 'interrupted'}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
