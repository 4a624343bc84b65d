"""Statistics over seeds, as pure functions: bootstrap intervals, curves aligned on common
steps, and a markdown table of final values. The plots in analysis/plots.py draw these.

Few seeds is the norm in RL, so intervals are percentile bootstraps of the mean (Agarwal et al.
2021, "Deep RL at the edge of the statistical precipice", recommend bootstrap CIs over +-std).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.runs import final_metrics, require_metric

LEVEL = 0.95


def bootstrap_ci(values: np.ndarray, n_boot: int, rng: np.random.Generator,
                 level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`: resample them with replacement
    `n_boot` times and take the (1 - level)/2 and (1 + level)/2 quantiles of the means."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    idx = rng.integers(0, values.size, size=(n_boot, values.size))
    means = values[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def align_runs(curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Put runs' (steps, values) curves on one grid of steps: the union of their steps within
    the range all of them cover, each run linearly interpolated where it has no value.

    Returns (steps (S,), values (n_runs, S)). Runs that share their steps are not interpolated.
    The grid stops where the shortest run stops: a mean past that point would silently be a
    mean over fewer seeds."""
    if not curves:
        raise ValueError("align_runs needs at least one run")
    clean = {}
    for name, (steps, values) in curves.items():
        steps, values = np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64)
        order = np.argsort(steps, kind="stable")
        clean[name] = (steps[order], values[order])
    start = max(s[0] for s, _ in clean.values())
    stop = min(s[-1] for s, _ in clean.values())
    if start > stop:
        raise ValueError(f"the runs cover no common steps (latest start {start:g}, earliest "
                         f"end {stop:g}): {', '.join(clean)}")
    grid = np.unique(np.concatenate([s for s, _ in clean.values()]))
    grid = grid[(grid >= start) & (grid <= stop)]
    return grid, np.stack([np.interp(grid, s, v) for s, v in clean.values()])


def curve_stats(df: pd.DataFrame, metric: str, group: str = "algorithm", n_boot: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """Per group and step: mean over runs of `metric` with its bootstrap CI.

    Columns: <group>, step, mean, lo, hi, n (runs). Runs in a group are aligned by `align_runs`;
    a step logged twice in a run (a resumed run) keeps its last value."""
    rows = require_metric(df, metric)
    rng = np.random.default_rng(seed)
    out = []
    for key, g in rows.groupby(group, sort=True):
        curves = {}
        for run, r in g.groupby("run", sort=True):
            r = r.drop_duplicates("step", keep="last")
            curves[run] = (r["step"].to_numpy(), r["value"].to_numpy())
        steps, values = align_runs(curves)
        cis = np.array([bootstrap_ci(v, n_boot, rng) for v in values.T])
        out.append(pd.DataFrame({group: key, "step": steps, "mean": values.mean(axis=0),
                                 "lo": cis[:, 0], "hi": cis[:, 1], "n": len(curves)}))
    return pd.concat(out, ignore_index=True)


def final_stats(df: pd.DataFrame, metric: str, group: str = "algorithm", n_boot: int = 10_000,
                seed: int = 0) -> pd.DataFrame:
    """Per group: mean over runs of each run's last `metric` value, its bootstrap CI, n, and the
    first and last of the steps those values were logged at (they differ where a run stopped
    early or was extended, and the mean then mixes budgets)."""
    finals = final_metrics(df, metric)
    rng = np.random.default_rng(seed)
    out = []
    for key, g in finals.groupby(group, sort=True):
        lo, hi = bootstrap_ci(g["value"].to_numpy(), n_boot, rng)
        out.append({group: key, "mean": g["value"].mean(), "lo": lo, "hi": hi, "n": len(g),
                    "step_min": int(g["step"].min()), "step_max": int(g["step"].max())})
    return pd.DataFrame(out)


def steps_shown(step_min: int, step_max: int) -> str:
    """The step a group's final values are at: one number, or the range where runs differ."""
    return f"{step_min}" if step_min == step_max else f"{step_min}-{step_max} (runs differ)"


def final_table(df: pd.DataFrame, metric: str, group: str = "algorithm", n_boot: int = 10_000,
                seed: int = 0) -> str:
    """A markdown table of the final `metric` per group: mean, 95% bootstrap CI, n runs.

    The interval is written [lo, hi], not +-: a bootstrap interval need not be symmetric."""
    stats = final_stats(df, metric, group, n_boot, seed)
    lines = [f"| {group} | final {metric} (mean) | {LEVEL:.0%} CI | n | at step |",
             "|---|---:|---:|---:|---:|"]
    for r in stats.itertuples(index=False):
        lines.append(f"| {getattr(r, group)} | {r.mean:.4g} | [{r.lo:.4g}, {r.hi:.4g}] | {r.n} | "
                     f"{steps_shown(r.step_min, r.step_max)} |")
    return "\n".join(lines) + "\n"
