"""The run directory: config.json (the resolved config), metrics.csv, checkpoints/, media/.

What goes into config.json, and how it is read back, is cli/configs.py's; this module only
knows where it lives and who may write the directory.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from agents.config import ConfigError

CONFIG = "config.json"
LOCK = ".lock"


class RunDirError(ConfigError):
    """A run directory that is not a run, or not the kind of run asked for; or a directory that
    a command cannot write (a run dir, an analysis's or a sweep's --out)."""


def unwritable(what: str, path: Path, error: OSError, flag: str) -> RunDirError:
    """The one-line error for a directory a command cannot write, naming the flag that chose it:
    a file of that name, a read-only or missing mount would otherwise end it in a traceback."""
    return RunDirError(f"cannot write {what} {path} ({error.strerror or error}); choose another {flag}")


def make_dir(path: Path, what: str, flag: str) -> None:
    """mkdir -p `path`, or `unwritable`'s error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise unwritable(what, path, e, flag) from None


@contextlib.contextmanager
def hold_run_dir(run_dir: str | Path) -> Iterator[None]:
    """Hold `run_dir` for one writer. Two processes training into one run dir interleave their
    metrics and overwrite each other's checkpoints without a word; the second gets a
    RunDirError instead. An flock goes with the process that holds it, so a crashed or killed
    run leaves no stale lock behind."""
    try:
        import fcntl
    except ImportError:  # no flock on this platform: run unguarded
        yield
        return
    run_dir = Path(run_dir)
    new = not run_dir.exists()
    make_dir(run_dir, "the run dir", "--run-dir")
    try:
        f = open(run_dir / LOCK, "a+")
    except OSError as e:
        raise unwritable("the run dir", run_dir, e, "--run-dir") from None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise RunDirError(f"{run_dir} is being written by pid {holder}: wait for that run to "
                              "end (or stop it), or choose another --run-dir") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            # A run refused before it wrote anything (a bad option, say) leaves no dir behind.
            if new and [p.name for p in run_dir.iterdir()] == [LOCK]:
                (run_dir / LOCK).unlink()
                run_dir.rmdir()
            fcntl.flock(f, fcntl.LOCK_UN)


def write_config(run_dir: str | Path, data: dict) -> None:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{CONFIG}.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, run_dir / CONFIG)


def read_config_dict(run_dir: str | Path) -> dict:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunDirError(f"{run_dir} is not a softskills run (no {CONFIG}); "
                          "start one with `python run.py train|pretrain ... --run-dir DIR`")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path} is not valid JSON ({e.msg}); the run dir is damaged") from e
    # Every config.json that run.py writes names its command; one without it was written by
    # hand or damaged, and a check of the run's kind would report it as a `None` run.
    if not isinstance(data, dict) or "command" not in data:
        raise RunDirError(f"{path} names no command, so it was not written by run.py; "
                          "the run dir is damaged or not a softskills run")
    return data


def check_run_kind(run_dir: str | Path, expected: str | tuple[str, ...]) -> dict:
    """config.json of `run_dir`, checked to be a run of the `expected` command(s)."""
    data = read_config_dict(run_dir)
    expected = (expected,) if isinstance(expected, str) else expected
    if data.get("command") not in expected:
        raise RunDirError(f"{run_dir} holds a {data.get('command')!r} run, not a "
                          f"{' or '.join(expected)} run")
    return data
