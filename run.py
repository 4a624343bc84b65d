"""softskills command line: train | pretrain | finetune | hierarchy | visualize | analyze | sweep.

Each command builds its components from typed configs and hands them to the one loop
(agents/loop.py). A bad flag, an unknown env, a missing or corrupt checkpoint or a run dir that
is not the right kind of run is reported in one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

# MuJoCo picks its GL backend at import; without a display GLFW would abort the process.
os.environ.setdefault("MUJOCO_GL", "egl")

from agents.config import ConfigError, integer  # noqa: E402


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (and exit 2, as argparse does), and a flag
    is never taken for a longer one it begins (argparse would read finetune's `--skill 3` as
    `--skills-from 3`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


TRAINING = {
    "train": "SAC from scratch on an env's reward",
    "pretrain": "skill discovery without reward (DIAYN, METRA, LSD)",
    "finetune": "fine-tune the best pretrained skill on a task reward",
    "hierarchy": "a maxent controller over pretrained skills on a task",
}
# What resume may change, and where to read more; the rest of a flag's help is its field's.
_RUN_DIR_HELP = "directory the run writes or resumes (default: runs/COMMAND-ENV-sSEED)"


def training_flags(command: str) -> dict:
    from cli.configs import COMMANDS
    from cli.flags import command_flags

    return command_flags(COMMANDS[command])


def registry_fields(command: str) -> list:
    """The fields of a command's config that hold one of several configs (`skills`: --method;
    `agent`: --algo), as (field name, its metadata)."""
    import dataclasses

    from cli.configs import COMMANDS

    return [(f.name, f.metadata) for f in dataclasses.fields(COMMANDS[command]) if "registry" in f.metadata]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="run.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for command, help in TRAINING.items():
        p = sub.add_parser(command, help=help, description=help)
        p.add_argument("--run-dir", default=None, help=_RUN_DIR_HELP)
        p.add_argument("--resume", action="store_true",
                       help="continue from the latest checkpoint; flags may change only "
                            "--total-steps, --threads, --device and --no-progress")
        p.add_argument("--print-config", action="store_true",
                       help="print the run's whole config (defaults, --config file and flags "
                            "resolved) as its config.json would hold it, and exit without running")
        _add_run_flags(p, command)

    p = sub.add_parser("sweep", help="many runs of a training command at once, on Ray",
                       description="Every combination of --grid values and --seeds is one trial: an "
                                   "ordinary run dir under --out. Run the same command again to "
                                   "resume the sweep.")
    commands = p.add_subparsers(dest="sweep_command", required=True, metavar="COMMAND",
                                parser_class=OneLineParser)
    for command, help in TRAINING.items():
        q = commands.add_parser(command, help=help, description=f"a sweep of: {help}")
        q.add_argument("--out", required=True, metavar="DIR", help="the sweep's directory")
        q.add_argument("--seeds", type=integer, nargs="+", default=[0], help="seeds of every grid point")
        q.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                       help="a config field and its values (repeatable; a tuple's entries are "
                            "separated by spaces)")
        q.add_argument("--address", default=None,
                       help="HOST:PORT of a running Ray cluster (default: Ray on this machine)")
        q.add_argument("--cpus-per-run", type=integer, default=1,
                       help="cores, and torch threads, per trial (default: 1)")
        q.add_argument("--max-concurrent", type=integer, default=None,
                       help="trials at once (default: the cluster's cores / --cpus-per-run)")
        _add_run_flags(q, command)

    p = sub.add_parser("visualize", help="videos, plots and report.md of a run, into RUN_DIR/media")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--steps", type=integer, default=None, help="steps per rollout (default: an episode)")
    p.add_argument("--size", type=integer, default=240, help="frame width and height in pixels (16 to 4096)")
    p.add_argument("--gif", action="store_true", help="gif instead of mp4")
    p.add_argument("--seed", type=integer, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("analyze", help="compare runs: learning curves over seeds, a final table")
    p.add_argument("run_dirs", nargs="+", help="run dirs, parent dirs of runs, or a sweep's dir")
    p.add_argument("--out", default=None,
                   help="directory for the plots and analysis.md (default: DIR/analysis of the "
                        "first dir)")
    p.add_argument("--metric", action="append", default=None,
                   help="metric to compare (repeatable; default: the usual ones the runs have)")
    p.add_argument("--rank", default=None, metavar="METRIC",
                   help="rank the groups by this metric's final value, highest first (a sweep's "
                        "groups are ranked by the first metric by default)")
    return parser


def _add_run_flags(p: argparse.ArgumentParser, command: str) -> None:
    """--config, --algo/--method and the config's own flags, shared by a command and its sweep."""
    from cli.configs import COMMANDS
    from cli.flags import add_flags

    p.add_argument("--config", default=None, metavar="FILE",
                   help="start from a config file (a run's config.json, or one in configs/); "
                        "flags given beside it override it")
    for name, meta in registry_fields(command):
        default = getattr(getattr(COMMANDS[command](), name), meta["key"])
        p.add_argument(f"--{meta['key']}", choices=meta["names"](), default=argparse.SUPPRESS,
                       help=f"which {name} config the run starts from (default: {default})")
    if command == "pretrain":
        p.add_argument("--no-visualize", action="store_true",
                       help="skip the videos, plots and report written at the end")
    add_flags(p, training_flags(command))


def default_run_dir(cfg) -> str:
    """runs/COMMAND-ENV-sSEED, ENV being the task for the commands that reuse skills: the same
    flags give the same directory, so `--resume` with them finds the run again."""
    return os.path.join("runs", f"{cfg.command}-{cfg.env_name}-s{cfg.seed}")


def resolve(args: argparse.Namespace):
    """The run's config and run dir: defaults, then --config FILE, then the flags given; or, with
    --resume, the run's own config.json with the flags it allows."""
    from cli.configs import read_run
    from cli.flags import given
    from cli.runs import check_resume

    flags = training_flags(args.command)
    values = given(args, flags)
    if args.resume and args.config:
        raise ConfigError("--config starts a new run; --resume continues one from its own "
                          "config.json: pass one of them")
    cfg = new_config(args.command, args, values)
    run_dir = args.run_dir or default_run_dir(cfg)
    if not args.resume:
        return cfg, run_dir
    saved = read_run(run_dir, args.command)
    for name, meta in registry_fields(args.command):
        kept = getattr(saved, name)
        chosen = getattr(_select(saved, args, args.command), name)
        if hasattr(args, meta["key"]) and type(chosen) is not type(kept):
            raise ConfigError(f"--{meta['key']} {getattr(args, meta['key'])} differs from the run's "
                              f"{getattr(type(kept), meta['key'])}")
    if "skills-from" in values and Path(values["skills-from"]).resolve() == Path(saved.skills_from).resolve():
        del values["skills-from"]  # the same skills by another path
    cfg = _apply(_select(saved, args, args.command), values, flags)
    by_path = {p: f"--{f.name}" for f in flags.values() for p in f.paths}
    check_resume(saved, cfg, lambda path: by_path.get(path, ".".join(path)))
    return cfg, run_dir


def new_config(command: str, args: argparse.Namespace, values: dict):
    """A new run's config: the defaults or --config FILE, the configs --algo / --method name,
    then the flag `values` (by flag name)."""
    from cli.configs import COMMANDS, read_file

    base = read_file(args.config, command) if args.config else COMMANDS[command]()
    return _apply(_select(base, args, command), values, training_flags(command))


def _select(cfg, args: argparse.Namespace, command: str):
    """`cfg` with the configs that --method / --algo name: another method or agent starts from
    its defaults; a variant of the same agent (ddpg of td3) sets what makes it that variant."""
    import dataclasses

    for name, meta in registry_fields(command):
        if not hasattr(args, meta["key"]):
            continue
        start, current = meta["registry"](getattr(args, meta["key"])), getattr(cfg, name)
        if type(start) is type(current):
            plain = type(start)()
            start = dataclasses.replace(current, **{
                f.name: getattr(start, f.name) for f in dataclasses.fields(start)
                if getattr(start, f.name) != getattr(plain, f.name)})
        cfg = dataclasses.replace(cfg, **{name: start})
    return cfg


def _apply(cfg, values: dict, flags: dict):
    from agents.config import FieldError
    from cli.configs import get_path, has_path, replace_paths
    from cli.flags import flag_of

    updates = {}
    for name, value in values.items():
        # A group flag (--lr) sets the fields that the run's configs have.
        paths = [p for p in flags[name].paths if has_path(cfg, p)]
        if not paths:
            path = flags[name].paths[0]
            raise ConfigError(f"--{name} is not an option of the {path[0]} config "
                              f"{type(get_path(cfg, path[:1])).__name__}")
        updates.update(dict.fromkeys(paths, value))
    try:
        return replace_paths(cfg, updates)
    except FieldError as e:  # named by the flag the user gave for it, where one did
        given = [n for n in values if (e.cls, e.name) in flags[n].owners]
        raise ConfigError(f"{'--' + given[0] if given else flag_of(flags, e)} {e.problem}") from None


MAX_FRAME_SIZE = 4096


def run_command(args: argparse.Namespace) -> None:
    if args.command == "visualize":
        from cli.commands import visualize

        # Under 16 pixels imageio-ffmpeg would pad frames up to its 16-pixel macroblock anyway.
        for flag, value, least in (("--steps", args.steps, 1), ("--size", args.size, 16),
                                   ("--seed", args.seed, 0)):
            if value is not None and value < least:
                raise ConfigError(f"{flag} must be >= {least} (got {value})")
        # MuJoCo's offscreen buffer aborts beyond what the GL allows (Mesa's software EGL:
        # 16384 fails, 4096 renders), after the pretraining run's checkpoint has been loaded.
        if args.size > MAX_FRAME_SIZE:
            raise ConfigError(f"--size must be <= {MAX_FRAME_SIZE} pixels, what MuJoCo's offscreen "
                              f"buffer takes on common GL drivers (got {args.size})")
        visualize(args.run_dir, steps=args.steps, size=args.size, gif=args.gif, seed=args.seed,
                  progress=not args.no_progress)
        return
    if args.command == "analyze":
        from cli.commands import analyze

        analyze(args.run_dirs, args.out or str(Path(args.run_dirs[0]) / "analysis"), args.metric,
                rank=args.rank)
        return
    if args.command == "sweep":
        return sweep(args)
    import cli

    cfg, run_dir = resolve(args)
    if args.print_config:
        import json

        from cli.configs import to_json

        print(json.dumps(to_json(cfg), indent=2))
        return
    if args.command == "pretrain" and not args.config and not args.resume:
        robot_config_note(cfg.env)
    getattr(cli, args.command)(cfg, run_dir, resume=args.resume)
    if args.command == "pretrain" and not args.no_visualize:
        cli.visualize(run_dir, progress=cfg.loop.progress)


def robot_config_note(env: str) -> None:
    """Point a pretraining run started from flags on a robot with a measured config file to that
    file: the defaults (DIAYN on the whole observation) find few skills on most robots."""
    path = Path(__file__).resolve().parent / "configs" / f"skills_{env.split('-')[0].lower()}.json"
    if path.is_file():
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        print(f"note: {shown} holds the settings measured for {env} (method, feature, K, budget; "
              f"benchmarks/RESULTS.md): python run.py pretrain --config {shown}", flush=True)


# Set per trial by the sweep's own flags.
_PER_TRIAL = {"seed": "--seeds", "threads": "--cpus-per-run"}


def sweep_trials(args: argparse.Namespace) -> list:
    """The trials of `run.py sweep COMMAND ...`, every config built and checked before any runs."""
    import typing

    from cli.flags import given
    from cli.sweep import Trial, combinations, parse_grid, trial_name

    command = args.sweep_command
    flags = training_flags(command)
    values = given(args, flags)
    for name in values:
        if name in _PER_TRIAL:
            raise ConfigError(f"--{name} is set per trial in a sweep: use {_PER_TRIAL[name]}")
    for name in ("cpus_per_run", "max_concurrent"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
    if len(set(args.seeds)) < len(args.seeds):
        raise ConfigError("--seeds repeats a seed")
    keys = {meta["key"]: meta for _, meta in registry_fields(command)}
    fields = {n: f.tp for n, f in flags.items() if n not in _PER_TRIAL and n != "progress"}
    fields.update({k: typing.Literal[tuple(meta["names"]())] for k, meta in keys.items()})
    grid = parse_grid(args.grid, fields)
    trials = []
    for point, seed in combinations(grid, args.seeds):
        name = trial_name(point, seed)
        ns = argparse.Namespace(**vars(args))
        trial_values = dict(values, seed=seed, threads=args.cpus_per_run, progress=False)
        for field, value in point:
            if field in keys:
                setattr(ns, field, value)
            else:
                trial_values[field] = value
        try:
            cfg = new_config(command, ns, trial_values)
        except ConfigError as e:
            raise ConfigError(f"trial {name}: {e}") from None
        trials.append(Trial(name, point, seed, cfg))
    return trials


def sweep(args: argparse.Namespace) -> int:
    from cli.sweep import run_sweep

    trials = sweep_trials(args)
    statuses = run_sweep(args.sweep_command, trials, args.out, address=args.address,
                         cpus_per_run=args.cpus_per_run, max_concurrent=args.max_concurrent,
                         visualize=not getattr(args, "no_visualize", False),
                         progress=getattr(args, "progress", True))
    return int(any(s["status"] == "failed" for s in statuses.values()))


def user_errors() -> tuple[type[Exception], ...]:
    """What a user's input can raise (a bad option, a dir that is not a run, a corrupt
    checkpoint, an unknown env or metric): one line and exit 2, here and in benchmarks/."""
    from agents.checkpoint import CheckpointError
    from analysis.runs import MetricNotFoundError
    from analysis.video import RenderingUnavailable
    from envs.registry import RobotMismatchError, UnknownEnvError, UnknownFeatureError

    return (CheckpointError, ConfigError, UnknownEnvError, UnknownFeatureError, MetricNotFoundError,
            RenderingUnavailable, RobotMismatchError)


def _one_line_warnings(command: str):
    """warnings.showwarning that writes a skipped run (analysis.runs.RunLoadWarning) as one line
    of the command's, as its errors are, where Python adds the file and the source line."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        from analysis.runs import RunLoadWarning  # only once something warns: pandas is slow to import

        if issubclass(category, RunLoadWarning):
            print(f"run.py {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)
    return show


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agents.loop import DivergedError

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(args.command)
            rc = run_command(args)
    except user_errors() as e:
        print(f"run.py {args.command}: error: {e}", file=sys.stderr)
        return 2
    except DivergedError as e:
        print(f"run.py {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"run.py {args.command}: {str(e) or 'interrupted'}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`--print-config | head`): no traceback, and none at exit when
        # Python flushes stdout again (the recipe of Python's signal docs, exit status 1).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
