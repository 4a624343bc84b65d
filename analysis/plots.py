"""Figures of runs and skills, as PNGs readable on a white page.

Each function takes data and an output path, writes the PNG and returns the path. Figures are
built with `matplotlib.figure.Figure`, never pyplot, so nothing depends on (or changes) the
global backend and no figure stays open. The numbers live in pure functions: `bootstrap_ci`,
`final_table` (analysis/stats.py), `coverage` and `confusion_matrix` (skills/metrics.py, where
the pretraining evaluation computes eval/coverage with the very same code).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from analysis.runs import final_metrics
from analysis.stats import bootstrap_ci, curve_stats, final_table
from skills.metrics import confusion_matrix, coverage

PathLike = str | Path
DPI = 120
# Blues without its palest fifth: a cell visited once must not vanish into a white page.
VISITS_CMAP = ListedColormap(colormaps["Blues"](np.linspace(0.2, 1.0, 256)))


def save_figure(fig: Figure, out: PathLike) -> Path:
    """Write `fig` to `out` (parents made), white behind, at the plots' resolution."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, facecolor="white")
    return out


def _colours(k: int) -> list:
    """k distinct colours: the qualitative tab10/tab20 while they last, then a colormap."""
    if k <= 10:
        return [colormaps["tab10"](i) for i in range(k)]
    if k <= 20:
        return [colormaps["tab20"](i) for i in range(k)]
    return [colormaps["turbo"](i / (k - 1)) for i in range(k)]


def _draw_curves(ax: Axes, df: pd.DataFrame, metric: str, group: str,
                 order: Sequence[str] | None, n_boot: int, seed: int) -> None:
    stats = curve_stats(df, metric, group, n_boot, seed)
    keys = list(order) if order is not None else list(stats[group].unique())
    silent = [k for k in keys if k not in set(stats[group])]
    if silent:
        raise ValueError(f"no run of {group} {', '.join(map(repr, silent))} logged {metric!r}")
    for key, colour in zip(keys, _colours(len(keys))):
        s = stats[stats[group] == key]
        ax.plot(s["step"], s["mean"], color=colour, lw=1.8, label=f"{key} (n={s['n'].iloc[0]})")
        ax.fill_between(s["step"], s["lo"], s["hi"], color=colour, alpha=0.2, lw=0)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)


def learning_curves(df: pd.DataFrame, metric: str, out: PathLike, group: str = "algorithm",
                    n_boot: int = 2000, seed: int = 0) -> Path:
    """`metric` against env steps: per group the mean over runs (seeds) and its 95% bootstrap
    CI, all groups on one x axis. Runs are aligned on common steps (`stats.align_runs`)."""
    fig = Figure(layout="constrained", figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    _draw_curves(ax, df, metric, group, None, n_boot, seed)
    ax.set_title(f"{metric}: mean and 95% CI over seeds")
    return save_figure(fig, out)


def comparison(df: pd.DataFrame, metric: str, out: PathLike, groups: Sequence[str],
               by: str = "algorithm", n_boot: int = 2000, seed: int = 0) -> Path:
    """Groups side by side (fine-tune vs scratch, hierarchy vs flat): their learning curves,
    and each run's final value with the group mean and CI. Raises ValueError for a group with
    no runs, naming the groups there are."""
    have = sorted(df[by].unique())
    missing = [g for g in groups if g not in have]
    if missing:
        raise ValueError(f"no runs with {by} {', '.join(map(repr, missing))}; "
                         f"there are: {', '.join(map(str, have)) or 'none'}")
    df = df[df[by].isin(groups)]
    fig = Figure(layout="constrained", figsize=(9.6, 4.0))
    ax_curve, ax_final = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    _draw_curves(ax_curve, df, metric, by, groups, n_boot, seed)
    finals = final_metrics(df, metric)
    rng = np.random.default_rng(seed)
    for i, (key, colour) in enumerate(zip(groups, _colours(len(groups)))):
        v = finals.loc[finals[by] == key, "value"].to_numpy()
        lo, hi = bootstrap_ci(v, n_boot, rng)
        # Small horizontal jitter so that seeds with equal values stay visible.
        ax_final.scatter(i + np.linspace(-0.12, 0.12, len(v)), v, color=colour, s=18, zorder=3)
        ax_final.errorbar(i, v.mean(), yerr=[[v.mean() - lo], [hi - v.mean()]], fmt="_",
                          color="black", capsize=6, ms=20, zorder=4)
    ax_final.set_xticks(range(len(groups)), list(groups))
    ax_final.set_xlim(-0.6, len(groups) - 0.4)
    ax_final.set_ylabel(f"final {metric}")
    ax_final.grid(alpha=0.3, axis="y")
    fig.suptitle(" vs ".join(groups) + f": {metric}")
    return save_figure(fig, out)


def skill_trajectories(trajs: Sequence[np.ndarray], out: PathLike, title: str | None = None,
                       labels: Sequence[str] | None = None) -> Path:
    """One path per skill (labelled z=0..K-1 unless `labels`), one colour each: (T, 2) arrays
    are drawn as x-y paths (start o, end x); (T,) or (T, 1) arrays as x against time, for planar
    robots."""
    paths = [np.asarray(t, dtype=np.float64) for t in trajs]
    if not paths:
        raise ValueError("skill_trajectories needs at least one trajectory")
    planar = [p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1) for p in paths]
    flat = [p.ndim == 2 and p.shape[1] == 2 for p in paths]
    if not (all(planar) or all(flat)):
        shapes = ", ".join(str(p.shape) for p in paths)
        raise ValueError(f"trajectories must all be (T, 2) x-y paths or all (T,)/(T, 1) x "
                         f"positions; got shapes {shapes}")
    fig = Figure(layout="constrained", figsize=(6.0, 5.0))
    ax = fig.add_subplot()
    labels = labels or [f"z={z}" for z in range(len(paths))]
    for label, p, colour in zip(labels, paths, _colours(len(paths))):
        if all(planar):
            ax.plot(np.arange(len(p)), p.ravel(), color=colour, lw=1.5, label=label)
        else:
            ax.plot(p[:, 0], p[:, 1], color=colour, lw=1.5, label=label)
            ax.plot(*p[0], "o", color=colour, ms=4)
            ax.plot(*p[-1], "x", color=colour, ms=6)
    if all(planar):
        ax.set_xlabel("time step")
        ax.set_ylabel("x position")
    else:
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize="small", ncol=max(1, len(paths) // 10),
              loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title(title or f"{len(paths)} skills")
    return save_figure(fig, out)


def coverage_map(xy_points: np.ndarray, out: PathLike, cell: float = 1.0) -> Path:
    """The cell x cell squares the points visited, shaded by visits, with the count of cells
    (`coverage`) in the title. x positions alone ((N,) or (N, 1)) are drawn along y = 0."""
    xy = np.asarray(xy_points, dtype=np.float64)
    if xy.ndim == 1 or (xy.ndim == 2 and xy.shape[1] == 1):
        xy = np.column_stack([xy.ravel(), np.zeros(xy.size)])
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0:
        raise ValueError(f"coverage_map needs (N, 2) x-y points or (N,) x values, got {xy.shape}")
    cells, visits = np.unique(np.floor(xy / cell).astype(np.int64), axis=0, return_counts=True)
    fig = Figure(layout="constrained", figsize=(5.6, 5.0))
    ax = fig.add_subplot()
    # Only the visited cells are drawn: a grid over the whole range could be huge for an Ant.
    squares = PatchCollection([Rectangle((cx * cell, cy * cell), cell, cell) for cx, cy in cells],
                              cmap=VISITS_CMAP, norm=LogNorm(vmin=1, vmax=max(2, visits.max())),
                              edgecolor="0.6", linewidth=0.4)
    squares.set_array(visits)
    ax.add_collection(squares)
    ax.plot(xy[:, 0], xy[:, 1], ".", color="tab:orange", ms=2, alpha=0.6)
    lo, hi = cells.min(0) * cell, (cells.max(0) + 1) * cell
    ax.set_xlim(lo[0] - cell, hi[0] + cell)
    ax.set_ylim(lo[1] - cell, hi[1] + cell)
    ax.set_aspect("equal")
    fig.colorbar(squares, ax=ax, label="visits", shrink=0.8)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"coverage: {coverage(xy, cell)} cells of {cell:g} m x {cell:g} m")
    return save_figure(fig, out)


def confusion_matrix_plot(matrix: np.ndarray, out: PathLike, title: str | None = None) -> Path:
    """A (K, K) `confusion_matrix`: row z is where the discriminator's guesses on states of
    skill z went. A perfect discriminator draws the diagonal."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square (K, K), got {m.shape}")
    k = m.shape[0]
    fig = Figure(layout="constrained", figsize=(1.0 + 0.45 * max(k, 6), 0.45 * max(k, 6)))
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0)
    if k <= 16:  # beyond that the numbers no longer fit in their cells
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.5 else "black")
    ticks = range(0, k, max(1, k // 16))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted skill")
    ax.set_ylabel("true skill z")
    fig.colorbar(im, ax=ax, label="q(pred | z)", shrink=0.8)
    # The mean of the diagonal is the accuracy only when every skill has as many states.
    ax.set_title(title or f"discriminator confusion, mean per-skill accuracy {np.trace(m) / k:.2f}")
    return save_figure(fig, out)


__all__ = ["bootstrap_ci", "comparison", "confusion_matrix", "confusion_matrix_plot", "coverage",
           "coverage_map", "final_table", "learning_curves", "skill_trajectories"]
