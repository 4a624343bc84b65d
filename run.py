"""softskills command line: train | pretrain | finetune | hierarchy | visualize | analyze.

Each command builds its components from typed configs and hands them to the one loop
(agents/loop.py). A bad flag, an unknown env, a missing or corrupt checkpoint or a run dir that
is not the right kind of run is reported in one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

# MuJoCo picks its GL backend at import; without a display GLFW would abort the process.
os.environ.setdefault("MUJOCO_GL", "egl")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (and exit 2, as argparse does)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _common(p: argparse.ArgumentParser, total_steps: int, learning_starts: int) -> None:
    p.add_argument("--run-dir", default=None,
                   help="directory the run writes or resumes (default: runs/COMMAND-ENV-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    # None, not the default, so that --resume without it keeps the run's own budget.
    p.add_argument("--total-steps", type=int, default=None,
                   help=f"environment steps (default {total_steps}; with --resume, the run's own)")
    p.set_defaults(default_total_steps=total_steps)
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
    p.add_argument("--target-entropy", type=float, default=None,
                   help="entropy target in nats (default: -dim(A); a hierarchy's controller: 0.3 log K)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _reuse(p: argparse.ArgumentParser) -> None:
    # Not argparse-required: a resumed run takes both from its config.json.
    p.add_argument("--skills-from", default=None,
                   help="run dir of a pretraining run (required for a new run)")
    p.add_argument("--task", default=None,
                   help="the task env, on the skills' robot (required for a new run)")


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
                   help="what the discriminator sees: the full observation (default) or a feature "
                        "the env exposes: the torso's position xy (DIAYN+prior) or x, its "
                        "velocity vxy or vx, its direction heading, the centre of mass's "
                        "velocity com_vxy or com_vx, or several joined by commas (x,vx)")
    p.add_argument("--disc-hidden", type=int, nargs="+", default=[128, 128],
                   help="discriminator hidden sizes")
    p.add_argument("--reward-scale", type=float, default=1.0, help="scale of the DIAYN reward")
    p.add_argument("--skill-steps", type=int, default=0,
                   help="redraw the skill every this many steps within an episode, so that "
                        "skills learn to start from each other's states, as a hierarchy starts "
                        "them (0, the default: one skill per episode, the paper's)")
    _common(p, total_steps=25_000, learning_starts=2_000)
    p.add_argument("--no-visualize", action="store_true",
                   help="skip the videos, plots and report written at the end")
    p.set_defaults(eval_episodes=1)

    p = sub.add_parser("finetune", help="fine-tune the best pretrained skill on a task reward")
    _reuse(p)
    p.add_argument("--scratch", action="store_true",
                   help="SAC from scratch with the same budget and network sizes, for comparison")
    _common(p, total_steps=50_000, learning_starts=1_000)

    p = sub.add_parser("hierarchy", help="a maxent controller over pretrained skills on a task")
    _reuse(p)
    p.add_argument("--steps-per-skill", type=int, default=10, help="k: robot steps per skill choice")
    p.add_argument("--controller-obs", choices=["full", "task", "task+pose"], default="full",
                   help="what the controller sees: the task's whole observation, only the entries "
                        "the task appends to the robot's (AntWaypoints: the waypoint), or those "
                        "and the torso's height and orientation")
    p.add_argument("--last-skill-obs", action="store_true",
                   help="the controller also sees which skill ran last (one-hot): the gait the "
                        "next skill starts from")
    p.add_argument("--skill-rotations", type=int, choices=[1, 2, 4], default=1,
                   help="also offer each skill turned about the vertical by half (2) or quarter "
                        "(4) turns, K x this many choices (Ant only: its physics is the same in "
                        "any heading, so a skill's walk turns with it)")
    p.add_argument("--greedy-on-target", action="store_true",
                   help="evaluate the controller's greedy choice on its Polyak-averaged target "
                        "Q-networks (steadier from one evaluation to the next)")
    _common(p, total_steps=20_000, learning_starts=1_000)
    p.set_defaults(hidden=[64, 64], batch_size=64, lr=1e-3)

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


def commands() -> dict:
    from cli.commands import cmd_analyze, cmd_pretrain, cmd_train, cmd_visualize
    from cli.reuse import cmd_finetune, cmd_hierarchy

    return {"train": cmd_train, "pretrain": cmd_pretrain, "finetune": cmd_finetune,
            "hierarchy": cmd_hierarchy, "visualize": cmd_visualize, "analyze": cmd_analyze}


TRAINING_COMMANDS = ("train", "pretrain", "finetune", "hierarchy")


def default_run_dir(args: argparse.Namespace) -> str:
    """runs/COMMAND-ENV-sSEED, ENV being the task for the commands that reuse skills: the same
    flags give the same directory, so `--resume` with them finds the run again."""
    env = args.task if args.command in ("finetune", "hierarchy") else args.env
    return os.path.join("runs", f"{args.command}-{env}-s{args.seed}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("finetune", "hierarchy") and args.run_dir is None and args.task is None:
        print(f"run.py {args.command}: error: --task (and --skills-from) or --run-dir is required",
              file=sys.stderr)
        return 2
    if args.command in TRAINING_COMMANDS and args.run_dir is None:
        args.run_dir = default_run_dir(args)
    from agents.checkpoint import CheckpointError
    from agents.rundir import ConfigError
    from analysis.runs import MetricNotFoundError
    from analysis.video import RenderingUnavailable
    from envs.registry import RobotMismatchError, UnknownEnvError

    try:
        commands()[args.command](args)
    except (CheckpointError, ConfigError, UnknownEnvError, MetricNotFoundError,
            RenderingUnavailable, RobotMismatchError) as e:
        print(f"run.py {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"run.py {args.command}: {e or 'interrupted'}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
