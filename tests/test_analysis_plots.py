"""analysis/stats.py and analysis/plots.py: the numbers against hand or closed-form values, and
every figure drawn from real (tiny) runs."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis.plots import (  # noqa: E402
    bootstrap_ci,
    comparison,
    confusion_matrix,
    confusion_matrix_plot,
    coverage,
    coverage_map,
    final_table,
    learning_curves,
    skill_trajectories,
)
from analysis.runs import final_metrics, load_run, load_runs  # noqa: E402
from analysis.stats import align_runs, curve_stats  # noqa: E402
from run import main  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three real SAC runs; seed 2 evaluates every 150 steps, the others every 100, so that the
    learning curve has to interpolate. Copies relabelled as fine-tune / scratch runs stand in
    for the finetune command in the comparison plot."""
    root = tmp_path_factory.mktemp("plot_runs")
    for seed, every in ((0, 100), (1, 100), (2, 150)):
        argv = ["train", "--env", "Pendulum-v1", "--total-steps", "300", "--learning-starts",
                "200", "--eval-every", str(every), "--eval-episodes", "1", "--hidden", "16", "16",
                "--batch-size", "16", "--seed", str(seed), "--threads", "1",
                "--run-dir", str(root / f"sac{seed}"), "--no-progress"]
        assert main(argv) == 0
    for seed in (0, 1, 2):
        for name, scratch in (("ft", False), ("sc", True)):
            run = root / f"{name}{seed}"
            shutil.copytree(root / f"sac{seed}", run)
            config = json.loads((run / "config.json").read_text())
            config.update(command="finetune", extra={"scratch": scratch})
            (run / "config.json").write_text(json.dumps(config))
    return root


def assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 2_000
    assert path.read_bytes()[:8] == PNG_MAGIC


def binomial_quantile(n: int, p: float, q: float) -> int:
    """Smallest k with P(Binomial(n, p) <= k) >= q."""
    cdf = 0.0
    for k in range(n + 1):
        cdf += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if cdf >= q:
            return k
    return n


def test_bootstrap_ci_of_zeros_and_ones_is_a_binomial_quantile():
    # The mean of n draws with replacement from k ones and n - k zeros is Binomial(n, k/n) / n
    # exactly, so the bootstrap interval is a pair of binomial quantiles.
    n, k = 20, 7
    values = np.array([1.0] * k + [0.0] * (n - k))
    lo, hi = bootstrap_ci(values, 20_000, np.random.default_rng(0))
    assert lo == binomial_quantile(n, k / n, 0.025) / n
    assert hi == binomial_quantile(n, k / n, 0.975) / n
    assert lo < values.mean() < hi


def test_bootstrap_ci_matches_the_normal_approximation():
    # For many values the bootstrap mean is close to normal with sd = std(ddof=0) / sqrt(n).
    values = np.random.default_rng(1).exponential(size=400)
    lo, hi = bootstrap_ci(values, 20_000, np.random.default_rng(2))
    half = 1.959964 * values.std() / math.sqrt(len(values))
    assert lo < values.mean() < hi
    assert hi - lo == pytest.approx(2 * half, rel=0.05)
    # The exponential is skewed right, and so is the interval.
    assert hi - values.mean() > values.mean() - lo


def test_bootstrap_ci_of_one_value_is_that_value():
    assert bootstrap_ci(np.array([3.5]), 100, np.random.default_rng(0)) == (3.5, 3.5)


def test_align_runs_interpolates_onto_common_steps():
    steps, values = align_runs({"a": ([0, 100, 200, 300], [0.0, 1.0, 2.0, 3.0]),
                                "b": ([0, 150, 250], [0.0, 3.0, 5.0])})
    assert steps.tolist() == [0, 100, 150, 200, 250]  # b stops at 250
    assert values[0].tolist() == [0.0, 1.0, 1.5, 2.0, 2.5]
    assert values[1].tolist() == [0.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.raises(ValueError, match="no common steps"):
        align_runs({"a": ([0, 10], [0, 1]), "b": ([20, 30], [0, 1])})


def test_curve_stats_keeps_the_last_value_of_a_repeated_step():
    df = pd.DataFrame({"run": ["a", "a", "a", "a", "b", "b", "b"], "algorithm": "sac",
                       "step": [0, 100, 100, 200, 0, 50, 200], "metric": "eval/return",
                       "value": [0.0, 1.0, 5.0, 2.0, 0.0, 1.0, 4.0]})
    stats = curve_stats(df, "eval/return", n_boot=100).set_index("step")
    # Run a logged step 100 twice (a resumed run): its later value, 5, counts, so at step 50
    # it is interpolated half way to 5; b is at 2 at step 100.
    assert stats.loc[50, "mean"] == pytest.approx((2.5 + 1.0) / 2)
    assert stats.loc[100, "mean"] == pytest.approx((5.0 + 2.0) / 2)
    assert stats.loc[200, "mean"] == pytest.approx(3.0)


def test_confusion_matrix_by_hand():
    true_z = np.array([0, 0, 0, 0, 1, 1, 3])
    pred_z = np.array([0, 0, 1, 3, 1, 1, 0])
    m = confusion_matrix(true_z, pred_z, n_skills=4)
    expected = np.array([[0.5, 0.25, 0.0, 0.25],
                         [0.0, 1.0, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 0.0],   # skill 2 has no samples: the row stays 0
                         [1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(m, expected)
    np.testing.assert_allclose(m.sum(axis=1), [1.0, 1.0, 0.0, 1.0])


def test_coverage_by_hand():
    # A walk from (0.5, 0.5) to (2.5, 0.5) then down to (2.5, -1.5), sampled every 0.25 m:
    # it crosses cells (0,0), (1,0), (2,0), (2,-1), (2,-2), that is 5.
    east = np.column_stack([np.arange(0.5, 2.5, 0.25), np.full(8, 0.5)])
    south = np.column_stack([np.full(9, 2.5), np.arange(0.5, -1.75, -0.25)])
    walk = np.vstack([east, south])
    assert coverage(walk) == 5
    assert coverage(walk, cell=2.0) == 3  # cells (0,0), (1,0), (1,-1)
    assert coverage(walk[:, 0]) == 3  # x alone, as for a planar robot


def test_curve_stats_mean_is_the_mean_over_seeds(runs):
    df = load_runs([runs / f"sac{s}" for s in (0, 1, 2)])
    stats = curve_stats(df, "eval/return", n_boot=500)
    assert stats["step"].tolist() == [0, 100, 150, 200, 300] and set(stats["n"]) == {3}
    by_seed = [load_run(runs / f"sac{s}").dropna(subset=["eval/return"]) for s in (0, 1, 2)]
    at_300 = np.mean([r["eval/return"].iloc[-1] for r in by_seed])
    # At step 100 seed 2 (evaluated at 0 and 150) is interpolated two thirds of the way.
    r2 = by_seed[2]["eval/return"].tolist()
    at_100 = np.mean([by_seed[0]["eval/return"].iloc[1], by_seed[1]["eval/return"].iloc[1],
                      r2[0] + (r2[1] - r2[0]) * 100 / 150])
    row = stats.set_index("step")
    assert row.loc[300, "mean"] == pytest.approx(at_300)
    assert row.loc[100, "mean"] == pytest.approx(at_100)
    assert (stats["lo"] <= stats["mean"]).all() and (stats["mean"] <= stats["hi"]).all()


def test_final_table_lists_each_group(runs):
    df = load_runs(runs)
    table = final_table(df, "eval/return", n_boot=500)
    lines = table.strip().splitlines()
    assert lines[0].startswith("| algorithm |") and len(lines) == 2 + 3
    finals = final_metrics(df, "eval/return")
    mean = finals.loc[finals["algorithm"] == "scratch", "value"].mean()
    scratch = next(line for line in lines if line.startswith("| scratch |"))
    steps = finals.loc[finals["algorithm"] == "scratch", "step"]
    assert steps.nunique() == 1  # the three runs ran to one budget: one step, no range
    assert f"| {mean:.4g} |" in scratch and scratch.endswith(f"| 3 | {steps.iloc[0]} |")
    # a run cut short (its rows past half the budget dropped) makes its group's final values a
    # mix of budgets, which the table says
    cut, group, end = finals["run"].iloc[0], finals["algorithm"].iloc[0], int(finals["step"].max())
    early = df[(df["run"] != cut) | (df["step"] <= end // 2)]
    cut_at = int(final_metrics(early, "eval/return").set_index("run").loc[cut, "step"])
    table = final_table(early, "eval/return", n_boot=500)
    line = next(x for x in table.splitlines() if x.startswith(f"| {group} |"))
    assert cut_at < end and line.endswith(f"| {cut_at}-{end} (runs differ) |"), line


def test_learning_curves_png(runs, tmp_path):
    df = load_runs(runs)
    assert_png(learning_curves(df, "eval/return", tmp_path / "curves.png", n_boot=200))


def test_comparison_png_and_missing_group(runs, tmp_path):
    df = load_runs(runs)
    out = comparison(df, "eval/return", tmp_path / "cmp.png", groups=["finetune", "scratch"],
                     n_boot=200)
    assert_png(out)
    with pytest.raises(ValueError, match="hierarchy.*there are: finetune, sac, scratch"):
        comparison(df, "eval/return", tmp_path / "x.png", groups=["hierarchy", "sac"])


@pytest.mark.parametrize("shape", ["xy", "x", "x1"])
def test_skill_trajectories_png(tmp_path, shape):
    rng = np.random.default_rng(0)
    paths = [np.cumsum(rng.normal(size=(50, 2)), axis=0) for _ in range(5)]
    paths = {"xy": paths, "x": [p[:, 0] for p in paths], "x1": [p[:, :1] for p in paths]}[shape]
    assert_png(skill_trajectories(paths, tmp_path / f"{shape}.png"))


def test_skill_trajectories_rejects_mixed_shapes(tmp_path):
    with pytest.raises(ValueError, match="shapes"):
        skill_trajectories([np.zeros((5, 2)), np.zeros(5)], tmp_path / "t.png")


def test_coverage_map_and_confusion_png(tmp_path):
    xy = np.cumsum(np.random.default_rng(0).normal(scale=0.3, size=(300, 2)), axis=0)
    assert_png(coverage_map(xy, tmp_path / "cov.png"))
    assert_png(coverage_map(xy[:, 0], tmp_path / "cov_x.png", cell=0.5))
    m = confusion_matrix(np.repeat(np.arange(6), 10), np.arange(60) % 6, 6)
    assert_png(confusion_matrix_plot(m, tmp_path / "conf.png"))
