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


def cmd_train(args: argparse.Namespace) -> None:
    from agents.loop import LoopConfig, OffPolicyLoop, evaluate_returns
    from agents.rundir import config_from_dict, write_config
    from agents.sac import SAC, SACConfig
    from envs.registry import make_env

    cfg = resolve_config(args)
    loop_cfg = config_from_dict(LoopConfig, cfg.loop)
    sac_cfg = config_from_dict(SACConfig, cfg.sac)
    setup_torch(cfg)
    env = make_env(cfg.env, seed=cfg.seed)
    eval_env = make_env(cfg.env, seed=cfg.seed + 10_000)
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    agent = SAC(obs_dim, action_dim, sac_cfg, device=cfg.device)
    write_config(args.run_dir, cfg)

    def evaluate(policy):
        return evaluate_returns(eval_env, policy, loop_cfg.eval_episodes)

    loop = OffPolicyLoop(loop_cfg, env, agent, evaluate, args.run_dir)
    final = loop.run(resume=args.resume)
    print(f"done: {loop.step} steps, eval return {final.get('eval/return', float('nan')):.1f}; "
          f"run dir {args.run_dir}")


def setup_torch(cfg: RunConfig) -> None:
    import torch

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        from agents.rundir import ConfigError

        raise ConfigError(f"--device {cfg.device} asked for, but torch sees no CUDA device")


COMMANDS = {"train": cmd_train}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agents.checkpoint import CheckpointError
    from agents.rundir import ConfigError
    from envs.registry import UnknownEnvError

    try:
        COMMANDS[args.command](args)
    except (CheckpointError, ConfigError, UnknownEnvError) as e:
        print(f"run.py {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"run.py {args.command}: {e or 'interrupted'}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
