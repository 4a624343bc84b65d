"""Many runs at once: every combination of grid values and seeds is one trial, an ordinary run
dir under the sweep's directory, trained by `run.py COMMAND`'s own function on Ray (embedded on
this machine by default, or an existing cluster by address).

A trial's outcome is written into its run dir (`trial.json`) when it ends, so a sweep is resumed
by running it again: finished trials are skipped, the others continue from their checkpoints,
and a trial that fails is reported with its one-line reason without stopping the others.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import socket
import sys
import time
import traceback
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agents.config import ConfigError
from agents.rundir import make_dir
from cli.flags import flag_type

SWEEP = "sweep.json"
TRIAL = "trial.json"
TRIAL_LOG = "trial.log"


@dataclass(frozen=True)
class Trial:
    name: str
    """the run dir's name under the sweep's directory"""
    grid: tuple[tuple[str, Any], ...]
    """(field, value) of each grid axis"""
    seed: int
    config: Any
    """the run's typed config"""


# ---------------------------------------------------------------- the grid


def parse_value(text: str, tp: Any, where: str) -> Any:
    """A grid value of type `tp` (a field's annotation) from its text; ConfigError naming `where`
    if it is not one."""
    origin, args = typing.get_origin(tp), [a for a in typing.get_args(tp) if a is not type(None)]
    if origin is not None and type(None) in typing.get_args(tp) and len(args) == 1:
        if text.lower() == "none":
            return None
        tp, origin, args = args[0], typing.get_origin(args[0]), list(typing.get_args(args[0]))
    try:
        if origin is tuple:
            return tuple(parse_value(t, args[0], where) for t in text.split())
        if origin is Literal:
            if text not in map(str, args):
                raise ValueError(f"is not one of {', '.join(map(str, args))}")
            return type(args[0])(text)
        if tp is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError("is not true or false")
            return text.lower() == "true"
        return flag_type(tp)(text)
    except ValueError as e:
        why = str(e) if str(e).startswith("is ") else f"is not a {getattr(tp, '__name__', tp)}"
        raise ConfigError(f"--grid {where}: {text!r} {why}") from None


def parse_grid(items: list[str], fields: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: values} of `--grid NAME=V1,V2 ...`; `fields` maps each name a grid may set (with
    dashes) to its type. A tuple value is written with spaces: `hidden=64 64,256 256`."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip().replace("_", "-")
        if not sep or not name or not values.strip():
            raise ConfigError(f"--grid {item!r} is not NAME=V1,V2,...")
        if name not in fields:
            raise ConfigError(f"--grid {name} is not a field of this command's config; the fields "
                              f"are: {', '.join(sorted(fields))}")
        if name in grid:
            raise ConfigError(f"--grid {name} is given twice")
        grid[name] = [parse_value(v.strip(), fields[name], name) for v in values.split(",")]
        if len(set(map(repr, grid[name]))) < len(grid[name]):
            raise ConfigError(f"--grid {name} repeats a value")
    return grid


GridPoint = tuple[tuple[str, Any], ...]


def combinations(grid: dict[str, list[Any]], seeds: list[int]) -> list[tuple[GridPoint, int]]:
    """Every (grid point, seed), grid axes in the order given, seeds innermost."""
    names = list(grid)
    points = itertools.product(*(grid[n] for n in names))
    return [(tuple(zip(names, p)), s) for p in points for s in seeds]


def trial_name(grid: tuple[tuple[str, Any], ...], seed: int) -> str:
    """e.g. lr=0.001-skills=8-s0: readable in `ls`, unique per trial, safe as a file name."""
    parts = [f"{n}={_show(v)}" for n, v in grid] + [f"s{seed}"]
    return "-".join(parts).replace("/", "_").replace(" ", "")


def group_label(grid: dict[str, Any] | tuple) -> str:
    """The label trials of one grid point share in analyses: their name without the seed."""
    items = grid.items() if isinstance(grid, dict) else grid
    return " ".join(f"{n}={_show(v)}" for n, v in items) or "all"


def _show(v: Any) -> str:
    return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)


# ---------------------------------------------------------------- one trial


def trial_status(run_dir: str | Path) -> dict | None:
    """What `trial.json` says of a trial's last attempt (status done or failed), or None."""
    try:
        return json.loads((Path(run_dir) / TRIAL).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def is_finished(run_dir: Path, cfg: Any) -> bool:
    """The trial ran to its end with this config (up to what a resume may change, as long as
    the run already has as many steps)."""
    from cli.configs import read_run
    from cli.runs import CHANGEABLE_ON_RESUME, differences

    status = trial_status(run_dir)
    if not status or status.get("status") != "done":
        return False
    try:
        saved = read_run(run_dir)
    except ConfigError:
        return False
    changed = {p for p, _, _ in differences(saved, cfg)}
    return (changed <= set(CHANGEABLE_ON_RESUME)
            and saved.loop.total_steps >= cfg.loop.total_steps)


def _write_status(run_dir: Path, status: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{TRIAL}.tmp"
    tmp.write_text(json.dumps(status, indent=2) + "\n")
    os.replace(tmp, run_dir / TRIAL)


def one_line(e: BaseException) -> str:
    """An exception as the one line a user reads: our errors already are one; others get their
    type named."""
    text = " ".join(str(e).split())
    return text if isinstance(e, ConfigError) else f"{type(e).__name__}: {text}"


def run_trial(command: str, config: dict, run_dir: str, visualize: bool = True) -> dict:
    """Train one trial in this process as `run.py COMMAND` would, resuming from its checkpoint
    if it has one; its output goes to RUN/trial.log. Returns (and writes) its status."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    import cli
    from cli.configs import from_json

    run_dir_p = Path(run_dir)
    ckpt = run_dir_p / "checkpoints"
    resume = ckpt.is_dir() and any(ckpt.iterdir())
    t0 = time.time()
    run_dir_p.mkdir(parents=True, exist_ok=True)
    # An earlier outcome no longer holds (the trial may be going on to more steps): a trial
    # stopped from now on must not read as done.
    (run_dir_p / TRIAL).unlink(missing_ok=True)
    with open(run_dir_p / TRIAL_LOG, "a") as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        print(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {'resumed' if resume else 'started'} "
              f"on {socket.gethostname()} pid {os.getpid()}", flush=True)
        try:
            cfg = from_json(dict(config), command)
            final = getattr(cli, command)(cfg, run_dir, resume=resume)
            if command == "pretrain" and visualize:
                cli.visualize(run_dir, progress=False)
            status = {"status": "done", "final": final}
        except KeyboardInterrupt as e:  # the sweep was stopped (stop_trials): no outcome yet
            print(f"stopped: {e}", flush=True)
            raise
        except Exception as e:  # reported in the sweep's summary; the other trials go on
            traceback.print_exc()
            status = {"status": "failed", "reason": one_line(e)}
    status["wall_s"] = round(time.time() - t0, 1)
    _write_status(run_dir_p, status)
    return status


# ---------------------------------------------------------------- the sweep


def check_address(address: str, timeout: float = 5.0) -> None:
    """ConfigError if nothing listens at a cluster's HOST:PORT (Ray itself would retry for
    minutes before it says so). `auto` and ray:// client addresses are left to Ray."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--address {address} is not HOST:PORT (or auto)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ConfigError(f"--address {address}: no Ray cluster reachable there ({e.strerror or e}); "
                          "start one with `ray start --head`, or leave --address out to run "
                          "on this machine") from None
    # A port that accepts connections may still not be a head node's GCS (a gRPC server): Ray
    # would then retry for minutes, logging as it goes, before it gives up.
    import grpc

    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise ConfigError(f"--address {address}: something listens there, but not a Ray cluster's "
                          f"head (no gRPC answer in {timeout:g} s); give the head node's address "
                          "(`ray status` on it prints it), or leave --address out to run on this "
                          "machine") from None
    finally:
        channel.close()


def root_cause(e: BaseException) -> str:
    """The first sentence of the innermost error that `e` was raised from. Ray's "Failed to
    connect to GCS" carries its cause as a traceback in the message: its last line is the error."""
    while e.__cause__ is not None:
        e = e.__cause__
    lines = str(e).strip().splitlines() or [type(e).__name__]
    last = re.sub(r"^[\w.]+(Error|Exception): ", "", lines[-1])
    return last.split(". ")[0].rstrip(".")


def join_hint(cause: str) -> str:
    if "auth" in cause.lower():
        return ("the cluster uses token authentication: run with RAY_AUTH_MODE=token and its token "
                "in ~/.ray/auth_token or RAY_AUTH_TOKEN")
    return "give the head node's address (`ray status` on it prints it), or leave --address out"


def start_ray(address: str | None) -> None:
    import ray

    common = dict(log_to_driver=False, configure_logging=False)
    if address:
        try:
            ray.init(address=address, **common)
        except ConnectionError as e:  # a gRPC server that is not a Ray head, or one that refused us
            raise ConfigError(f"--address {address}: Ray could not join the cluster "
                              f"({root_cause(e)}); {join_hint(root_cause(e))}") from None
        return
    # Embedded: no dashboard to serve, and a small object store (trials return a dict of
    # metrics; the default takes 30% of memory, and /dev/shm is small in containers).
    # Ray starts its workers at niceness 15, and the trials are the sweep's whole work: beside
    # any other job on the machine they would fall to a fraction of a core. A cluster keeps
    # its own setting.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False,
             object_store_memory=100 * 1024**2, **common)


def write_spec(out: Path, command: str, trials: list[Trial]) -> None:
    """DIR/sweep.json: the command and each trial's grid point and seed (kept from earlier runs
    of the sweep too), which `run.py analyze DIR` groups by."""
    spec = {"command": command, "trials": {}}
    with contextlib.suppress(OSError, json.JSONDecodeError):
        old = json.loads((out / SWEEP).read_text())
        if old.get("command") == command:
            spec["trials"].update(old.get("trials", {}))
    for t in trials:
        spec["trials"][t.name] = {"grid": dict(t.grid), "seed": t.seed}
    make_dir(out, "the sweep to", "--out")
    (out / SWEEP).write_text(json.dumps(spec, indent=2, default=str) + "\n")


def sweep_labels(out: str | Path) -> dict[str, str]:
    """{trial run dir name: its grid point's label} of the sweep in `out`, or {} if none."""
    try:
        spec = json.loads((Path(out) / SWEEP).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {name: group_label(t.get("grid", {})) for name, t in spec.get("trials", {}).items()}


def run_sweep(command: str, trials: list[Trial], out: str | Path, *, address: str | None = None,
              cpus_per_run: int = 1, max_concurrent: int | None = None, visualize: bool = True,
              progress: bool = True) -> dict[str, dict]:
    """Run `trials` on Ray into `out`/NAME; returns {name: status} of every trial and writes
    `out`/sweep.md. Trials that already finished are skipped."""
    from tqdm import tqdm

    from cli.configs import to_json

    # Absolute: a trial runs in a Ray worker whose working directory is the one its node's Ray
    # was started in, not the driver's (on a cluster, DIR must be storage every node shares).
    out = Path(out).resolve()
    if address:
        check_address(address)
    elif cpus_per_run > (os.cpu_count() or 1):  # Ray would hold every trial, waiting forever
        raise ConfigError(f"--cpus-per-run {cpus_per_run} is more than this machine's "
                          f"{os.cpu_count()} cores: no trial could start")
    write_spec(out, command, trials)
    statuses: dict[str, dict] = {}
    todo = []
    for t in trials:
        if is_finished(out / t.name, t.config):
            statuses[t.name] = dict(trial_status(out / t.name), skipped=True)
        else:
            todo.append(t)
    print(f"sweep: {len(trials)} trial{'s' * (len(trials) != 1)} in {out} "
          f"({len(trials) - len(todo)} already finished)")
    if todo:
        import ray

        start_ray(address)
        # SIGTERM (a sweep in the background ignores SIGINT) stops like Ctrl-C; Ray's own
        # handler, installed by ray.init, would exit at once and take the trials with it.
        old_term = signal.signal(signal.SIGTERM, _interrupt)
        running: dict[Any, Trial] = {}
        try:
            cores = int(ray.cluster_resources().get("CPU", 1))
            if cpus_per_run > cores:
                print(f"sweep: the cluster has {cores} cores now, under --cpus-per-run "
                      f"{cpus_per_run}: the trials wait for nodes to join", flush=True)
            capacity = max(1, cores // cpus_per_run)
            limit = max_concurrent or capacity
            remote = ray.remote(num_cpus=cpus_per_run, max_retries=0)(run_trial)
            # Redrawn every second on a terminal; in a log file, once per finished trial.
            live = progress and sys.stderr.isatty()
            bar = tqdm(total=len(trials), initial=len(trials) - len(todo), unit="trial",
                       desc="trials", disable=not progress)
            failed = 0
            while todo or running:
                while todo and len(running) < limit:
                    t = todo.pop(0)
                    ref = remote.remote(command, to_json(t.config), str(out / t.name), visualize)
                    running[ref] = t
                bar.set_postfix(running=len(running), failed=failed, refresh=False)
                done, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                if live:
                    bar.refresh()  # the elapsed time moves on while trials run
                for ref in done:
                    t = running.pop(ref)
                    try:
                        status = ray.get(ref)
                    except Exception as e:  # the worker died (killed, out of memory, a crash)
                        status = {"status": "failed", "reason": one_line(e).splitlines()[0]}
                        _write_status(out / t.name, status)
                    statuses[t.name] = status
                    failed += status["status"] == "failed"
                    bar.write(f"{t.name}: {_outcome(status)}")
                    bar.update(1)
            bar.close()
        except KeyboardInterrupt:
            stop_trials(list(running))
            raise KeyboardInterrupt("stopped; run the same command again to resume the sweep "
                                    "(finished trials are kept, the others go on from their "
                                    "checkpoints)") from None
        finally:
            signal.signal(signal.SIGTERM, old_term)
            ray.shutdown()
    report = write_summary(out, command, trials, statuses)
    n_failed = sum(s["status"] == "failed" for s in statuses.values())
    print(f"sweep: {len(trials) - n_failed} of {len(trials)} trials done, {n_failed} failed; "
          f"summary {report}")
    return statuses


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def stop_trials(refs: list, timeout: float = 600.0) -> None:
    """Ask running trials to stop and wait while each writes its checkpoint: `ray.cancel`
    raises KeyboardInterrupt in the trial, which the training loop, like a Ctrl-C of a single
    run, turns into a stop at the next step and a checkpoint. Without this, shutting Ray down
    would kill them and lose everything since their last periodic checkpoint. A second Ctrl-C
    stops waiting."""
    import ray

    if not refs:
        return
    print(f"stopping {len(refs)} running trial{'s' * (len(refs) != 1)}: each writes a checkpoint "
          "first (Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
    for ref in refs:
        ray.cancel(ref)
    with contextlib.suppress(KeyboardInterrupt):
        ray.wait(refs, num_returns=len(refs), timeout=timeout)


def _outcome(status: dict) -> str:
    if status["status"] == "failed":
        return f"failed: {status['reason']}"
    shown = ", ".join(f"{k} {v:.4g}" for k, v in status.get("final", {}).items()
                      if k in ("eval/return", "eval/disc_accuracy", "eval/coverage"))
    return f"done in {status.get('wall_s', 0):.0f} s" + (f"; {shown}" if shown else "")


def write_summary(out: Path, command: str, trials: list[Trial], statuses: dict[str, dict]) -> Path:
    """DIR/sweep.md: one row per trial (its outcome or the reason it failed), then the analysis
    of the finished ones grouped by grid point (`run.py analyze DIR`)."""
    lines = [f"# Sweep of `run.py {command}`: {len(trials)} trials", "",
             "| trial | seed | grid | outcome |", "|---|---:|---|---|"]
    for t in trials:
        s = statuses.get(t.name, {"status": "failed", "reason": "not run"})
        lines.append(f"| {t.name} | {t.seed} | {group_label(t.grid)} | "
                     f"{_outcome(s).replace('|', '/')}{' (earlier)' if s.get('skipped') else ''} |")
    if any(s["status"] == "done" for s in statuses.values()):
        from analysis.report import analyze

        analysis = analyze([out], out / "analysis")
        lines += ["", f"Grouped by grid point, mean and 95% bootstrap CI over seeds: "
                      f"[analysis/analysis.md]({analysis.relative_to(out)})"]
    report = out / "sweep.md"
    report.write_text("\n".join(lines) + "\n")
    return report


__all__ = ["Trial", "check_address", "combinations", "parse_grid", "parse_value", "run_sweep",
           "run_trial", "sweep_labels", "trial_name", "trial_status"]
