"""run.py visualize and analyze on real short runs: media, report.md, comparison, bad input."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from run import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--hidden", "16", "--batch-size", "16", "--learning-starts", "100", "--no-progress",
         "--eval-episodes", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        assert main(["train", "--env", "PointMassGoal-v0", "--total-steps", "300", "--seed", str(seed),
                     "--eval-every", "100", "--run-dir", str(root / f"sac{seed}"), *SMALL]) == 0
    assert main(["pretrain", "--skills", "3", "--total-steps", "300", "--disc-hidden", "16",
                 "--eval-every", "150", "--no-visualize", "--run-dir", str(root / "skills"), *SMALL]) == 0
    return root


def _linked_files_exist(report: Path) -> list[str]:
    text = report.read_text()
    links = re.findall(r"\]\((media/[^)]+)\)", text)
    assert links
    for link in links:
        assert (report.parent / link).is_file(), link
    return links


def test_visualize_pretraining_run(rendering, runs):
    assert main(["visualize", "--run-dir", str(runs / "skills"), "--steps", "20", "--size", "48"]) == 0
    links = _linked_files_exist(runs / "skills" / "report.md")
    for name in ("skills_grid.mp4", "skill_2.mp4", "trajectories.png", "coverage.png", "confusion.png",
                 "eval_disc_accuracy.png"):
        assert f"media/{name}" in links
    text = (runs / "skills" / "report.md").read_text()
    assert "| skill | log_q_z | accuracy |" in text and '"command": "pretrain"' in text


def test_visualize_any_run_shows_its_policy(rendering, runs):
    assert main(["visualize", "--run-dir", str(runs / "sac0"), "--steps", "10", "--size", "48",
                 "--gif"]) == 0
    assert "media/policy.gif" in _linked_files_exist(runs / "sac0" / "report.md")


@pytest.fixture(scope="module")
def hier(runs):
    run = runs / "hier"
    assert main(["hierarchy", "--skills-from", str(runs / "skills"), "--task", "PointMassGoal-v0",
                 "--steps-per-skill", "10", "--total-steps", "60", "--learning-starts", "20",
                 "--batch-size", "8", "--run-dir", str(run), "--no-progress"]) == 0
    return run


def test_visualize_a_hierarchy_films_its_controller_choosing_skills(rendering, hier):
    run = hier
    assert main(["visualize", "--run-dir", str(run), "--steps", "25", "--size", "48"]) == 0
    assert "media/controller.mp4" in _linked_files_exist(run / "report.md")
    frames = iio.imread(run / "media" / "controller.mp4")
    assert frames.shape == (26, 48, 48, 3)  # every robot step, not one frame per choice
    assert not np.array_equal(frames[1], frames[25])  # the point moved
    # the skill's label (black text on white) is on every frame after the start
    assert all(f[:14, :30].mean() > frames[0][:14, :30].mean() + 20 for f in frames[1:])
    chosen = re.search(r"Skills chosen: (.*)", (run / "report.md").read_text()).group(1)
    assert sum(int(n) for n in re.findall(r"(\d+)x", chosen)) == 3  # 25 steps: 3 choices of 10


def test_visualize_a_hierarchy_whose_skills_moved_says_to_restore_them(hier, tmp_path, capsys):
    config = json.loads((hier / "config.json").read_text())
    shutil.copytree(hier, tmp_path / "hier")
    gone = dict(config, skills_from=str(tmp_path / "gone"))
    (tmp_path / "hier" / "config.json").write_text(json.dumps(gone))
    assert main(["visualize", "--run-dir", str(tmp_path / "hier"), "--steps", "5", "--size", "48"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"restore {tmp_path / 'gone'}" in err


def test_analyze_compares_seeds(runs, tmp_path):
    assert main(["analyze", str(runs / "sac0"), str(runs / "sac1"), "--out", str(tmp_path),
                 "--metric", "eval/return"]) == 0
    text = (tmp_path / "analysis.md").read_text()
    assert "# Analysis of 2 runs" in text and "sac / PointMassGoal-v0" in text
    assert (tmp_path / "eval_return.png").stat().st_size > 0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_unknown_metric_lists_the_ones_there_are(runs, tmp_path):
    proc = _cli("analyze", str(runs / "sac0"), "--out", str(tmp_path), "--metric", "eval/nope")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "eval/return" in proc.stderr


def test_analyze_of_a_dir_without_runs_is_one_line(tmp_path):
    proc = _cli("analyze", str(tmp_path))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "no runs found in" in proc.stderr


def test_analyze_says_in_one_line_which_dir_it_skipped(runs, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = _cli("analyze", str(runs / "sac0"), str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    # the command's own line, as its errors are: no file name, no source line of the library's
    assert proc.stderr.strip().splitlines() == [
        f"run.py analyze: warning: skipped {tmp_path / 'empty'}: no runs in it (no config.json in it "
        "or its subdirectories)"], proc.stderr
    assert "# Analysis of 1 runs" in (tmp_path / "out" / "analysis.md").read_text()


def test_analyze_into_an_out_that_cannot_be_a_directory_is_one_line(runs, tmp_path):
    (tmp_path / "taken").write_text("a file, not a directory")
    proc = _cli("analyze", str(runs / "sac0"), "--out", str(tmp_path / "taken" / "analysis"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot write the analysis to" in proc.stderr and "choose another --out" in proc.stderr


@pytest.mark.parametrize("flag, value, says", [
    ("--steps", "0", "must be >= 1"), ("--size", "4", "must be >= 16"), ("--seed", "-1", "must be >= 0"),
    ("--size", "16384", "must be <= 4096 pixels")])
def test_visualize_refuses_a_flag_out_of_range_in_one_line(tmp_path, capsys, flag, value, says):
    assert main(["visualize", "--run-dir", str(tmp_path), flag, value]) == 2
    err = capsys.readouterr().err
    assert f"{flag} {says}" in err and len(err.strip().splitlines()) == 1, err


def test_visualize_without_checkpoint_is_one_line(runs, tmp_path):
    run = tmp_path / "copy"
    run.mkdir()
    (run / "config.json").write_text((runs / "sac0" / "config.json").read_text())
    proc = _cli("visualize", "--run-dir", str(run))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "no checkpoint" in proc.stderr
