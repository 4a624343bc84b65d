"""The run directory: config.json (the resolved config), metrics.csv, checkpoints/, media/.

Configs are frozen dataclasses nested in one run config; `config_from_dict` rebuilds them from
config.json so that `--resume` continues exactly the run that was started.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

CONFIG = "config.json"
LOCK = ".lock"
T = TypeVar("T")


class ConfigError(ValueError):
    """Input a user can fix: a bad option value, a missing device, an unknown feature."""


class RunDirError(ConfigError):
    """A run directory that is not a run, or not the kind of run asked for."""


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
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK, "a+") as f:
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
            fcntl.flock(f, fcntl.LOCK_UN)


def write_config(run_dir: str | Path, config: Any) -> None:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG).write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")


def read_config_dict(run_dir: str | Path) -> dict:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunDirError(f"{run_dir} is not a softskills run (no {CONFIG}); "
                          "start one with `python run.py train|pretrain ... --run-dir DIR`")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path} is not valid JSON ({e.msg}); the run dir is damaged") from e


def config_from_dict(cls: type[T], data: dict) -> T:
    """Rebuild a (nested) config dataclass from `dataclasses.asdict` output."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        kwargs[f.name] = _coerce(hints[f.name], data[f.name])
    return cls(**kwargs)


def _coerce(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is not type(None):
                return _coerce(arg, value)
    if dataclasses.is_dataclass(tp):
        return config_from_dict(tp, value)
    if origin is tuple:
        return tuple(value)
    return value


def check_run_kind(run_dir: str | Path, expected: str | tuple[str, ...]) -> dict:
    """config.json of `run_dir`, checked to be a run of the `expected` command(s)."""
    data = read_config_dict(run_dir)
    expected = (expected,) if isinstance(expected, str) else expected
    if data.get("command") not in expected:
        raise RunDirError(f"{run_dir} holds a {data.get('command')!r} run, not a "
                          f"{' or '.join(expected)} run")
    return data
