"""analysis/runs.py on real (tiny) runs: seeds kept apart, half-written lines survived."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import pytest

from analysis.runs import (
    MetricNotFoundError,
    RunLoadWarning,
    algorithm_of,
    final_metrics,
    load_run,
    load_runs,
    setting_names,
)
from run import main

SEEDS = (0, 1, 2)


def tiny_run(run_dir: Path, seed: int, eval_every: int = 100) -> Path:
    """A real SAC run on Pendulum: 300 steps, 100 of them updates (about a second)."""
    argv = ["train", "--env", "Pendulum-v1", "--total-steps", "300", "--learning-starts", "200",
            "--eval-every", str(eval_every), "--eval-episodes", "1", "--hidden", "16", "16",
            "--batch-size", "16", "--seed", str(seed), "--threads", "1", "--run-dir", str(run_dir),
            "--no-progress"]
    assert main(argv) == 0
    return run_dir


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for seed in SEEDS:
        tiny_run(root / f"seed{seed}", seed)
    return root


def csv_column(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    """(step, value) of one metric, read with the csv module: the loader's independent check."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return [(int(r["step"]), float(r[metric])) for r in csv.DictReader(f) if r[metric]]


def test_loads_every_run_and_keeps_seeds_apart(runs_root):
    df = load_runs(runs_root)
    assert list(df.columns) == ["run", "algorithm", "env", "seed", "step", "metric", "value"]
    assert sorted(df["run"].unique()) == [f"seed{s}" for s in SEEDS]
    assert set(df["algorithm"]) == {"sac"} and set(df["env"]) == {"Pendulum-v1"}
    assert df.attrs["skipped"] == []
    for seed in SEEDS:
        rows = df[(df["run"] == f"seed{seed}") & (df["metric"] == "eval/return")]
        assert set(rows["seed"]) == {seed}
        got = list(zip(rows["step"], rows["value"]))
        assert got == csv_column(runs_root / f"seed{seed}", "eval/return")
    # Different seeds give different returns: a loader that mixed runs up would not notice.
    finals = final_metrics(df, "eval/return")
    assert finals["value"].nunique() == len(SEEDS)


def test_list_of_dirs_equals_parent(runs_root):
    by_parent = load_runs(runs_root)
    by_list = load_runs([runs_root / f"seed{s}" for s in SEEDS])
    assert by_list.equals(by_parent)


def test_final_metrics_is_the_last_logged_value(runs_root):
    finals = final_metrics(load_runs(runs_root), "eval/return").set_index("run")
    for seed in SEEDS:
        step, value = csv_column(runs_root / f"seed{seed}", "eval/return")[-1]
        assert finals.loc[f"seed{seed}", "step"] == step == 300
        assert finals.loc[f"seed{seed}", "value"] == value


def test_missing_metric_names_the_ones_that_exist(runs_root):
    df = load_runs(runs_root)
    with pytest.raises(MetricNotFoundError, match="eval/disc_accuracy") as info:
        final_metrics(df, "eval/disc_accuracy")
    assert isinstance(info.value, ValueError)
    assert "eval/return" in str(info.value) and "train/alpha" in str(info.value)


def test_load_run_is_wide(runs_root):
    wide = load_run(runs_root / "seed1")
    with open(runs_root / "seed1" / "metrics.csv", newline="") as f:
        header = next(csv.reader(f))
    assert list(wide.columns) == header
    assert wide.attrs["config"]["loop"]["seed"] == 1
    assert wide["eval/return"].dropna().tolist() == [v for _, v in csv_column(
        runs_root / "seed1", "eval/return")]


@pytest.mark.parametrize("cut", ["mid_line", "last_digit"])
def test_half_written_last_line_is_dropped_and_reported(runs_root, tmp_path, cut):
    run = tmp_path / "crashed"
    shutil.copytree(runs_root / "seed0", run)
    path = run / "metrics.csv"
    text = path.read_text()
    last_start = text.rstrip("\n").rfind("\n") + 1
    # mid_line leaves fewer fields than the header; last_digit keeps every field but cuts the
    # last number short, which only the missing newline gives away.
    end = last_start + 12 if cut == "mid_line" else len(text.rstrip("\n")) - 1
    path.write_text(text[:end])
    steps = [s for s, _ in csv_column(runs_root / "seed0", "wall_time")]

    with pytest.warns(RunLoadWarning, match="half-written"):
        df = load_runs([runs_root / "seed1", run])
    skipped = df.attrs["skipped"]
    assert [s.path for s in skipped] == [path]
    assert f"line {len(steps) + 1}" in skipped[0].reason
    crashed = df[(df["run"] == "crashed") & (df["metric"] == "wall_time")]
    assert crashed["step"].tolist() == steps[:-1]
    assert (df["run"] == "seed1").any()

    with pytest.warns(RunLoadWarning):
        assert load_run(run)["step"].tolist() == steps[:-1]


def test_malformed_middle_line_is_dropped_and_the_rest_kept(runs_root, tmp_path):
    run = tmp_path / "garbled"
    shutil.copytree(runs_root / "seed0", run)
    path = run / "metrics.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = "1,2,3\n"  # a row with too few fields, with lines after it
    lines[5] = lines[5].replace(",", ",oops,", 1)  # a row with one field too many
    path.write_text("".join(lines))
    steps = [s for s, _ in csv_column(runs_root / "seed0", "wall_time")]

    with pytest.warns(RunLoadWarning, match="line 4 .*line 6"):
        wide = load_run(run)
    assert wide["step"].tolist() == steps[:2] + steps[3:4] + steps[5:]


def test_unreadable_files_are_skipped_with_reasons(runs_root, tmp_path):
    good = tmp_path / "good"
    shutil.copytree(runs_root / "seed2", good)
    (tmp_path / "bad_json").mkdir()
    (tmp_path / "bad_json" / "config.json").write_text("{not json")
    (tmp_path / "no_metrics").mkdir()
    shutil.copy(good / "config.json", tmp_path / "no_metrics")
    (tmp_path / "empty_metrics").mkdir()
    shutil.copy(good / "config.json", tmp_path / "empty_metrics")
    (tmp_path / "empty_metrics" / "metrics.csv").write_text("")
    (tmp_path / "media").mkdir()  # not a run: ignored, not reported

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_runs(tmp_path)
    assert set(df["run"]) == {"good"}
    reasons = {s.path.name: s.reason for s in df.attrs["skipped"]}
    assert set(reasons) == {"bad_json", "no_metrics", "empty_metrics"}
    assert "not valid JSON" in reasons["bad_json"] and "empty" in reasons["empty_metrics"]
    assert "metrics.csv" in reasons["no_metrics"]
    assert sum(issubclass(w.category, RunLoadWarning) for w in caught) == 3


def test_runs_of_two_algorithms_on_one_env_are_two_groups(tmp_path, capsys):
    """analyze groups runs by algorithm and env: TD3 and SAC runs on Pendulum are two curves,
    not two seeds of one (every train run was labelled sac before)."""
    from run import main

    tiny = ["--env", "Pendulum-v1", "--total-steps", "300", "--learning-starts", "100", "--hidden", "8",
            "--batch-size", "8", "--eval-every", "300", "--eval-episodes", "1", "--no-progress",
            "--threads", "1"]
    for algo in ("sac", "td3", "soft-td3"):
        assert main(["train", "--algo", algo, *tiny, "--run-dir", str(tmp_path / algo)]) == 0
    df = load_runs([tmp_path / a for a in ("sac", "td3", "soft-td3")])
    assert df.groupby("algorithm")["run"].nunique().to_dict() == {"sac": 1, "soft-td3": 1, "td3": 1}
    assert main(["analyze", str(tmp_path), "--out", str(tmp_path / "out"), "--metric", "eval/return"]) == 0
    table = (tmp_path / "out" / "analysis.md").read_text()
    for algo in ("sac", "td3", "soft-td3"):
        assert f"| {algo} / Pendulum-v1 |" in table and "| 1 |" in table


def test_runs_of_one_algorithm_with_other_settings_are_other_groups(runs_root, tmp_path):
    """Seeds of one setting are one curve; a run with another gamma is not one of its seeds, and
    its algorithm says how it differs. How long a run ran, its threads and its seed do not count."""
    for seed in SEEDS:
        shutil.copytree(runs_root / f"seed{seed}", tmp_path / f"seed{seed}")
    for name, change in (("gamma", {"agent": {"gamma": 0.9}}), ("longer", {"loop": {"total_steps": 600},
                                                                          "threads": 2})):
        shutil.copytree(runs_root / "seed0", tmp_path / name)
        config = json.loads((tmp_path / name / "config.json").read_text())
        for key, value in change.items():
            config[key] = {**config[key], **value} if isinstance(value, dict) else value
        (tmp_path / name / "config.json").write_text(json.dumps(config))
    algorithms = load_runs(tmp_path).groupby("run")["algorithm"].first().to_dict()
    assert algorithms == {"gamma": "sac agent.gamma=0.9", "longer": "sac agent.gamma=0.99",
                          **{f"seed{s}": "sac agent.gamma=0.99" for s in SEEDS}}


def test_setting_names_compare_the_fields_a_group_shares():
    a = {"command": "train", "seed": 0, "agent": {"algo": "sac", "lr": 1e-3, "hidden": [64, 64]}}
    b = {**a, "seed": 1, "skills_from": "runs/other"}
    c = {**a, "agent": {"algo": "sac", "lr": 3e-4, "hidden": [256, 256]}}
    old = {"command": "train", "seed": 2, "agent": {"algo": "sac", "lr": 1e-3}}  # no hidden saved
    groups = ["sac"] * 3 + ["td3"]
    assert setting_names([a, b, c, a], groups) == [
        "agent.hidden=64x64 agent.lr=0.001", "agent.hidden=64x64 agent.lr=0.001",
        "agent.hidden=256x256 agent.lr=0.0003", ""]
    assert setting_names([a, old], ["sac", "sac"]) == ["", ""]


def test_runs_with_one_name_are_told_apart_by_path(runs_root, tmp_path):
    for parent in ("a", "b"):
        shutil.copytree(runs_root / "seed0", tmp_path / parent / "seed0")
    df = load_runs([tmp_path / "a", tmp_path / "b"])
    assert sorted(df["run"].unique()) == [str(tmp_path / p / "seed0") for p in ("a", "b")]


@pytest.mark.parametrize("config, algorithm", [
    ({"command": "train"}, "sac"),
    ({"command": "train", "agent": {"algo": "sac", "gamma": 0.99}}, "sac"),
    ({"command": "train", "agent": {"algo": "sql-discrete"}}, "sql-discrete"),
    ({"command": "train", "agent": {"algo": "td3", "soft": False, "n_critics": 2}}, "td3"),
    ({"command": "train", "agent": {"algo": "td3", "soft": True, "n_critics": 2}}, "soft-td3"),
    ({"command": "train", "agent": {"algo": "td3", "soft": False, "n_critics": 1, "policy_delay": 1,
                                    "target_noise": 0.0}}, "ddpg"),
    ({"command": "train", "agent": {"algo": "td3", "soft": True, "n_critics": 1, "policy_delay": 1,
                                    "target_noise": 0.0}}, "soft-ddpg"),
    # one critic alone is still TD3's delay and smoothing: not a preset, so td3
    ({"command": "train", "agent": {"algo": "td3", "soft": False, "n_critics": 1, "policy_delay": 2}}, "td3"),
    ({"command": "pretrain", "extra": {"diayn": {"n_skills": 8}}}, "diayn"),
    ({"command": "pretrain", "skills": {"method": "metra", "n_skills": 2}}, "metra"),
    ({"command": "pretrain", "skills": {"method": "diayn"}}, "diayn"),
    ({"command": "finetune", "extra": {}}, "finetune"),
    ({"command": "finetune", "extra": {"scratch": True}}, "scratch"),
    ({"command": "finetune", "extra": {"scratch": False}}, "finetune"),
    ({"command": "hierarchy"}, "hierarchy"),
])
def test_algorithm_of(config, algorithm):
    assert algorithm_of(config) == algorithm


def test_unknown_command_is_skipped(runs_root, tmp_path):
    run = tmp_path / "odd"
    shutil.copytree(runs_root / "seed0", run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(dict(config, command="visualize")))
    with pytest.warns(RunLoadWarning, match="visualize"):
        df = load_runs(run)
    assert df.empty and list(df.columns)[-1] == "value"
