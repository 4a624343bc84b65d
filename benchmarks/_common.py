"""Shared by the benchmark scripts: run a run.py command in-process, read back its metrics."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import pandas as pd  # noqa: E402

from agents.config import integer  # noqa: E402


def _number(cast: Callable[[str], float], ok: Callable[[float], bool], what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value
    return parse


# argparse types for what the scripts use themselves (run.py's configs check what they pass on):
# 0 goals or a negative seed is one line and exit 2, not a nan in a table.
count = _number(integer, lambda v: v >= 1, "an integer >= 1")
non_negative = _number(integer, lambda v: v >= 0, "an integer >= 0")
positive = _number(float, lambda v: 0 < v < math.inf, "a number > 0")
non_negative_float = _number(float, lambda v: 0 <= v < math.inf, "a number >= 0")


def main_or_exit(main: Callable[[], object]) -> None:
    """A script's main, with what a user can get wrong (a dir that is not a run of the right
    kind, a corrupt checkpoint, ...) as one line and exit 2, as run.py has it."""
    from run import user_errors

    try:
        main()
    except user_errors() as e:
        print(f"{Path(sys.argv[0]).name}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def run(args: list[str]) -> None:
    from run import main

    code = main(args)
    if code == 2:  # what the user got wrong: run.py has said it in one line, and the script ends so
        raise SystemExit(2)
    if code != 0:
        raise SystemExit(f"run.py {' '.join(args)} exited {code}")


def metrics(run_dir: str | Path) -> pd.DataFrame:
    return pd.read_csv(Path(run_dir) / "metrics.csv")


def finished(run_dir: str | Path, steps: int) -> bool:
    """Whether run_dir holds a run that has logged `steps` steps (benchmarks skip it then)."""
    csv = Path(run_dir) / "metrics.csv"
    return csv.exists() and metrics(run_dir)["step"].iloc[-1] >= steps


def final(run_dir: str | Path, metric: str) -> float:
    return float(metrics(run_dir)[metric].dropna().iloc[-1])


def steps_per_second(run_dir: str | Path, from_step: int) -> float:
    """Env steps/s between the first logged row at or after `from_step` and the last row,
    by the run's own wall-clock column (evaluations at the ends are outside the span)."""
    df = metrics(run_dir)
    rows = df[df["step"] >= from_step]
    first, last = rows.iloc[0], rows.iloc[-2]  # the last row includes the final evaluation
    return float((last["step"] - first["step"]) / (last["wall_time"] - first["wall_time"]))


def random_coverage(env_name: str, episodes: int, seed: int, **env_kwargs) -> int:
    """1 m cells visited by a uniformly random policy over `episodes` episodes of `env_name`
    (x-y where the env has it, else x), to compare with as many skill rollouts; `env_kwargs`
    are the env options the skills ran with (a fallen robot's episode going on, say)."""
    import numpy as np

    from envs.registry import make_env
    from skills.evaluate import position_fn
    from skills.metrics import coverage

    env = make_env(env_name, seed=seed, **env_kwargs)
    env.action_space.seed(seed)
    position = position_fn(env)
    points = []
    for _ in range(episodes):
        env.reset()
        points.append(position())
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            points.append(position())
            done = terminated or truncated
    return coverage(np.asarray(points))


def write_readme(readme: Path, name: str, text: str, merge_on: int = 0) -> None:
    """Put `text` between the README's `<!-- NAME table -->` and `<!-- end NAME table -->`
    markers: a table generated from runs, so that it cannot drift from them. With `merge_on`
    = k, the table's rows already there are kept unless `text` has a row with the same first k
    cells (then it replaces them): runs made on another machine keep their rows."""
    start, end = f"<!-- {name} table -->", f"<!-- end {name} table -->"
    doc = readme.read_text()
    if start not in doc or end not in doc:
        raise SystemExit(f"{readme} has no {start} ... {end} markers to write the table between")
    head, rest = doc.split(start, 1)
    if merge_on:
        text = merge_rows(rest[:rest.index(end)], text, merge_on)
    readme.write_text(head + start + "\n" + text + rest[rest.index(end):])


def merge_rows(old: str, new: str, key_cells: int) -> str:
    """Markdown table `old` updated with `new`'s rows: `new`'s header; a row of `new` whose
    first `key_cells` cells match an old row's takes that row's place, and the others go after
    the last row with the same first cell (the robot), or at the end."""
    def key(line: str) -> tuple[str, ...]:
        return tuple(c.strip() for c in line.strip().strip("|").split("|")[:key_cells])

    old_lines, new_lines = old.strip().splitlines(), new.strip().splitlines()
    header, rows = new_lines[:2], list(old_lines[2:])
    for line in new_lines[2:]:
        keys = [key(r) for r in rows]
        if key(line) in keys:
            rows[keys.index(key(line))] = line
            continue
        same = [i for i, k in enumerate(keys) if k[:1] == key(line)[:1]]
        rows.insert(same[-1] + 1 if same else len(rows), line)
    return "\n".join(header + rows) + "\n"


def filled_buffer(n: int, obs_dim: int, act_dim: int, feature_dim: int = 0, skills: int = 1):
    """Our replay buffer full of `n` random transitions (skills drawn from `skills`), for
    timing updates that sample fresh batches, as the loop does."""
    import numpy as np

    from agents.buffer import ReplayBuffer

    rng = np.random.default_rng(0)
    buf = ReplayBuffer(n, obs_dim, act_dim, feature_dim=feature_dim)
    for k, v in buf._np.items():
        v[:] = rng.integers(skills, size=v.shape) if k == "skill" else rng.standard_normal(v.shape)
    buf.size = n
    return buf
