"""End-to-end: seeded SAC learns (not only runs) on two small tasks, through the CLI."""

import pandas as pd

from run import main


def _final_eval(run_dir) -> float:
    df = pd.read_csv(run_dir / "metrics.csv")
    return float(df["eval/return"].dropna().iloc[-1])


def test_sac_learns_pendulum(tmp_path):
    code = main(["train", "--env", "Pendulum-v1", "--total-steps", "6000", "--learning-starts", "500",
                 "--hidden", "64", "64", "--lr", "1e-3", "--eval-every", "6000", "--eval-episodes", "5",
                 "--seed", "0", "--run-dir", str(tmp_path), "--no-progress", "--threads", "1"])
    assert code == 0
    # A random policy scores about -1200; a swung-up pendulum scores above -200.
    assert _final_eval(tmp_path) >= -300


def test_sac_learns_to_reach_point_mass_goal(tmp_path):
    code = main(["train", "--env", "PointMassGoal-v0", "--total-steps", "4000", "--learning-starts",
                 "500", "--hidden", "64", "64", "--lr", "1e-3", "--eval-every", "4000",
                 "--eval-episodes", "3", "--seed", "0", "--run-dir", str(tmp_path), "--no-progress",
                 "--threads", "1"])
    assert code == 0
    df = pd.read_csv(tmp_path / "metrics.csv")
    first, last = df["eval/return"].dropna().iloc[[0, -1]]
    # Reward is minus the distance to the goal 3.5 m away: staying put scores about -350; going
    # straight there at 2 m/s and stopping scores about -45.
    assert first < -250
    assert last > -100
