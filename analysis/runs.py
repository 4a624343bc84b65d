"""pandas loaders of run directories: config.json + metrics.csv, in one tidy long table.

`load_runs` gives one row per (run, step, metric) with the run's algorithm, env and seed, so that
curves over seeds are one `groupby` away. Runs of one algorithm and env that were run with other
settings (a learning rate, K) are not seeds of one curve: their algorithm names the settings in
which they differ ("diayn skills.n_skills=8"). Files that cannot be read (a run dir without config,
an empty metrics.csv, the half-written last line a crash leaves) are skipped, never fatal: the
table says which in `df.attrs["skipped"]` and a `RunLoadWarning` is raised for each.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from agents.logger import METRICS
from agents.rundir import CONFIG, RunDirError, read_config_dict
from cli.runs import CHANGEABLE_ON_RESUME
from cli.sweep import group_label

COLUMNS = ["run", "algorithm", "env", "seed", "step", "metric", "value"]
PathLike = str | Path


class MetricNotFoundError(ValueError):
    """A metric that no loaded run logged; the message lists the ones that exist."""


class RunLoadWarning(UserWarning):
    """A file (or some lines of one) that the loader could not read and left out."""


class Skipped(NamedTuple):
    """What was left out, and why."""

    path: Path
    reason: str


def algorithm_of(config: dict) -> str:
    """The name a run is plotted under: a train run's agent as --algo names it (sac, td3,
    soft-td3, ddpg, soft-ddpg, sql, sql-discrete), a pretrain run's skill method (diayn, metra,
    lsd), or finetune | scratch | hierarchy. Runs of two algorithms on one env are two groups,
    never seeds of one."""
    from agents.registry import algo_name

    command = config.get("command")
    if command == "finetune":
        # A "scratch" finetune is the baseline: same task and budget, no pretrained skill.
        # config.json of schema version 1 has it at the top; version 0 in its `extra` block.
        scratch = config.get("scratch", config.get("extra", {}).get("scratch"))
        return "scratch" if scratch else "finetune"
    if command == "train":
        return algo_name(config.get("agent") or {})
    if command == "pretrain":
        # Schema version 0 kept DIAYN's settings under `extra`, with no method named.
        return (config.get("skills") or {}).get("method", "diayn")
    if command == "hierarchy":
        return "hierarchy"
    raise RunDirError(f"unknown command {command!r} in config.json; expected one of "
                      "train, pretrain, finetune, hierarchy")


# Fields in which seeds of one setting may differ: what a resumed run may change (its length,
# the machine), the seed, how often it evaluated, logged and saved, which pretraining run it
# reused (each seed its own), and the skill a fine-tuning run picked as its best.
NOT_SETTINGS = frozenset({".".join(path) for path in CHANGEABLE_ON_RESUME} | {
    "version", "command", "env", "task", "seed", "skills_from", "skill", "loop.seed",
    "loop.eval_every", "loop.eval_episodes", "loop.log_every", "loop.checkpoint_every"})


def _flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = tuple(value) if isinstance(value, list) else value
    return out


def setting_names(configs: list[dict], groups: list) -> list[str]:
    """For each run (its config.json and its group: algorithm and env), the settings in which
    it differs from other runs of its group, as "key=value key2=value2"; "" where all runs of its group
    share their settings. Only fields every run of the group has are compared (runs of an older
    schema lack the newer ones)."""
    flats = [{k: v for k, v in _flat(c).items() if k not in NOT_SETTINGS} for c in configs]
    names = [""] * len(configs)
    for group in set(groups):
        members = [i for i, g in enumerate(groups) if g == group]
        shared = set.intersection(*(set(flats[i]) for i in members))
        varying = sorted(k for k in shared if len({repr(flats[i][k]) for i in members}) > 1)
        if varying:
            for i in members:
                # Written as a sweep names its grid points: runs of a sweep read the same.
                names[i] = group_label({k: flats[i][k] for k in varying})
    return names


def read_metrics(path: PathLike) -> tuple[pd.DataFrame, list[Skipped]]:
    """metrics.csv as a wide float frame (NaN where a row has no value), without the lines that
    are not whole rows. Raises RunDirError if there is no usable header."""
    path = Path(path)
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise RunDirError(f"{path} is empty")
    header = next(csv.reader([lines[0]]))
    if "step" not in header:
        raise RunDirError(f"{path} has no 'step' column (header: {', '.join(header)})")
    bad: list[str] = []
    # The logger ends every row with a newline, so a last line without one was cut mid-write;
    # it may even have the right number of fields (a number cut short), so it is never trusted.
    last = len(lines) if text.endswith("\n") else len(lines) - 1
    if last < len(lines) and len(lines) > 1:
        bad.append(f"line {len(lines)} (half-written: no newline at end of file)")
    rows: list[list[float]] = []
    for i, fields in enumerate(csv.reader(lines[1:last]), start=2):
        if len(fields) != len(header):
            bad.append(f"line {i} ({len(fields)} fields, header has {len(header)})")
            continue
        try:
            values = [float(v) if v.strip() else math.nan for v in fields]
        except ValueError:
            bad.append(f"line {i} (not a number)")
            continue
        if math.isnan(values[header.index("step")]):
            bad.append(f"line {i} (no step)")
            continue
        rows.append(values)
    frame = pd.DataFrame(rows, columns=header, dtype=float)
    frame["step"] = frame["step"].astype("int64")
    skipped = [Skipped(path, "left out " + "; ".join(bad))] if bad else []
    return frame, skipped


def load_run(run_dir: PathLike) -> pd.DataFrame:
    """One run's metrics, wide: `step`, `wall_time` and one column per metric. The run's
    config is in `attrs["config"]`, dropped lines in `attrs["skipped"]` (and warned about).
    Raises RunDirError if `run_dir` is not a run or its metrics cannot be read."""
    run_dir = Path(run_dir)
    config = read_config_dict(run_dir)
    path = run_dir / METRICS
    if not path.is_file():
        raise RunDirError(f"{run_dir} has no {METRICS}: the run wrote no metrics yet")
    frame, skipped = read_metrics(path)
    _warn(skipped)
    frame.attrs["config"] = config
    frame.attrs["skipped"] = skipped
    return frame


def find_run_dirs(dirs: PathLike | Iterable[PathLike]) -> tuple[list[Path], list[Skipped]]:
    """Run directories among `dirs`: each is a run (it has config.json) or a parent whose
    direct subdirectories are runs (subdirectories without config.json are ignored)."""
    if isinstance(dirs, str | Path):
        dirs = [dirs]
    found: list[Path] = []
    skipped: list[Skipped] = []
    for d in map(Path, dirs):
        if (d / CONFIG).is_file():
            found.append(d)
            continue
        subs = sorted(s for s in d.iterdir() if (s / CONFIG).is_file()) if d.is_dir() else []
        if not subs:
            why = "no runs in it (no config.json in it or its subdirectories)" if d.is_dir() \
                else "not a directory"
            skipped.append(Skipped(d, why))
        found.extend(subs)
    return found, skipped


def load_runs(dirs: PathLike | Iterable[PathLike]) -> pd.DataFrame:
    """Every run in `dirs` (run dirs, or parents of run dirs) as one tidy table with columns
    run, algorithm, env, seed, step, metric, value (empty cells of the sparse csv left out).

    Unreadable files are skipped: listed as `Skipped` in `attrs["skipped"]` and warned about.
    `run` is the directory's name, or its full path where two runs share a name."""
    run_dirs, skipped = find_run_dirs(dirs)
    names = [d.name for d in run_dirs]
    loaded = []
    for d, name in zip(run_dirs, names):
        if names.count(name) > 1:
            name = str(d)
        try:
            config = read_config_dict(d)
            algorithm = algorithm_of(config)
            frame, bad = read_metrics(d / METRICS)
        except (RunDirError, OSError) as e:
            # FileNotFoundError lands here too: a run that crashed before logging a row.
            skipped.append(Skipped(d, str(e)))
            continue
        skipped.extend(bad)
        # Schema version 1 keeps the seed in `loop` and the env of skill reuse as `task`.
        env = config.get("env", config.get("task", "?"))
        seed = config.get("seed", config.get("loop", {}).get("seed", -1))
        loaded.append((name, config, algorithm, env, int(seed), frame))
    settings = setting_names([c for _, c, *_ in loaded], [(a, e) for _, _, a, e, _, _ in loaded])
    tables = []
    for (name, _, algorithm, env, seed, frame), setting in zip(loaded, settings):
        long = frame.melt(id_vars="step", var_name="metric", value_name="value").dropna()
        algorithm = f"{algorithm} {setting}" if setting else algorithm
        tables.append(long.assign(run=name, algorithm=algorithm, env=env, seed=seed))
    df = pd.concat(tables, ignore_index=True)[COLUMNS] if tables else _empty()
    _warn(skipped)
    df.attrs["skipped"] = skipped
    return df


def metrics_of(df: pd.DataFrame) -> list[str]:
    """The metrics present in a `load_runs` table, sorted."""
    return sorted(df["metric"].unique())


def require_metric(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of `metric`; raises MetricNotFoundError (listing what exists) if none."""
    rows = df[df["metric"] == metric]
    if rows.empty:
        have = ", ".join(metrics_of(df)) or "none (no runs were loaded)"
        raise MetricNotFoundError(f"no run logged {metric!r}; the metrics are: {have}")
    return rows


def final_metrics(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The last logged value of `metric` in each run: columns run, algorithm, env, seed, step,
    value (one row per run that logged it)."""
    rows = require_metric(df, metric).sort_values(["run", "step"], kind="stable")
    last = rows.groupby("run", sort=False).tail(1)
    return last.drop(columns="metric").reset_index(drop=True)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        COLUMNS, ["object", "object", "object", "int64", "int64", "object", "float64"])})


def _warn(skipped: list[Skipped]) -> None:
    for s in skipped:
        # stacklevel 3: point at the caller of load_run(s), not at this helper.
        warnings.warn(f"skipped {s.path}: {s.reason}", RunLoadWarning, stacklevel=3)


__all__ = ["MetricNotFoundError", "RunLoadWarning", "Skipped", "algorithm_of", "final_metrics",
           "find_run_dirs", "load_run", "load_runs", "metrics_of", "read_metrics", "require_metric"]
