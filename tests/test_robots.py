"""Every robot with a config file (`configs/skills_<robot>.json`) pretrains from it, checkpoints,
and gets a video grid and a trajectory plot; and pretraining can keep a fallen robot's episode going."""

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest

from envs.registry import make_env
from run import main

ROOT = Path(__file__).resolve().parents[1]
ROBOTS = ["halfcheetah", "hopper", "walker2d", "ant", "humanoid", "swimmer"]


@pytest.mark.parametrize("robot", ROBOTS)
def test_each_robot_pretrains_from_its_config_and_is_visualized(rendering, robot, tmp_path):
    config = ROOT / "configs" / f"skills_{robot}.json"
    run = tmp_path / robot
    # The config's robot, skills and feature; a short budget with a few updates.
    assert main(["pretrain", "--config", str(config), "--total-steps", "1500", "--learning-starts",
                 "1300", "--eval-every", "1500", "--hidden", "64", "64", "--run-dir", str(run),
                 "--no-progress", "--no-visualize"]) == 0
    assert (run / "checkpoints" / "latest.pt").is_file()
    saved = json.loads((run / "config.json").read_text())
    assert saved["env"] == json.loads(config.read_text())["env"]
    assert main(["visualize", "--run-dir", str(run), "--steps", "20", "--size", "48", "--no-progress"]) == 0
    media = run / "media"
    frames = iio.imread(media / "skills_grid.mp4")
    assert len(frames) >= 20
    assert np.ptp(frames[0]) > 40  # not a blank frame of one colour
    change = max(np.abs(f.astype(int) - frames[0].astype(int)).mean() for f in frames)
    assert change > 0.3, change  # the robots move: not one still picture
    assert (media / "trajectories.png").stat().st_size > 5_000


def test_a_fallen_robot_can_lie_until_the_time_limit():
    def episode_length(**kw) -> int:
        env = make_env("Hopper-v5", seed=0, **kw)
        env.reset(seed=0)
        for t in range(1, 2000):
            _, _, terminated, truncated, _ = env.step(np.ones(3, np.float32))  # a fall
            if terminated or truncated:
                return t
        return -1

    assert episode_length() < 100
    assert episode_length(terminate_when_unhealthy=False) == 1000


def test_an_env_without_the_option_is_one_line_and_exit_2(tmp_path, capsys):
    config = tmp_path / "cheetah.json"
    config.write_text(json.dumps({"env": "HalfCheetah-v5", "terminate_when_unhealthy": False}))
    code = main(["pretrain", "--config", str(config), "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "env HalfCheetah-v5 has no option terminate_when_unhealthy" in err


def test_env_options_reach_the_env_and_a_wrong_one_is_one_line_and_exit_2(tmp_path, capsys):
    config = tmp_path / "short.json"
    config.write_text(json.dumps({"env": "PointMass-v0", "env_options": {"max_episode_steps": 40}}))
    run = tmp_path / "short"
    assert main(["pretrain", "--config", str(config), "--total-steps", "400", "--learning-starts", "100",
                 "--eval-every", "400", "--log-every", "200", "--threads", "1", "--run-dir", str(run),
                 "--no-progress", "--no-visualize"]) == 0
    lengths = pd.read_csv(run / "metrics.csv")["train/episode_length"].dropna()
    assert (lengths == 40).all(), lengths  # PointMass's own limit is longer
    from skills.library import SkillLibrary

    assert len(SkillLibrary.load(run).rollout(0, seed=0).positions) <= 41  # the library's env too
    config.write_text(json.dumps({"env": "PointMass-v0", "env_options": {"legs": 3}}))
    code = main(["pretrain", "--config", str(config), "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "env PointMass-v0 has no option legs" in err
    config.write_text(json.dumps({"env": "PointMass-v0", "env_options": [200]}))
    code = main(["pretrain", "--config", str(config), "--run-dir", str(tmp_path / "r"), "--no-progress"])
    assert code == 2 and "env_options must be a JSON object" in capsys.readouterr().err
    config.write_text(json.dumps({"env": "Hopper-v5", "env_options": {"max_episode_steps": "200"}}))
    code = main(["pretrain", "--config", str(config), "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "env Hopper-v5 rejected its options {'max_episode_steps': '200'}" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()
    for skip in (0, -3, 2.5):  # 0 divided by zero in Gymnasium; -3 trained on a negative timestep
        config.write_text(json.dumps({"env": "Hopper-v5", "env_options": {"frame_skip": skip}}))
        code = main(["pretrain", "--config", str(config), "--run-dir", str(tmp_path / "r"), "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and f"frame_skip must be a whole number >= 1, got {skip}" in err, err


def test_motion_labels_hand_made_trajectories():
    from skills.metrics import motion

    dt, t = 0.05, np.arange(101)[:, None]  # 100 steps, 5 s
    assert motion(0.1 * t, dt, fell=False) == ("forward", pytest.approx(2.0))
    assert motion(-0.1 * t, dt, fell=False) == ("backward", pytest.approx(-2.0))
    assert motion(0.025 * t, dt, fell=False)[0] == "standing"  # 0.5 m/s: not beyond the threshold
    assert motion(0.1 * t, dt, fell=True) == ("fallen", pytest.approx(2.0))  # falling wins
    xy = np.hstack([0.03 * t, -0.04 * t])  # 5 m in 5 s over the ground
    assert motion(xy, dt, fell=False) == ("moving", pytest.approx(1.0))
    # Out 5 m and back: the mean speed is the net displacement's, so this stands.
    there_and_back = np.concatenate([0.1 * t[:51], 0.1 * t[50::-1][1:]])
    assert motion(there_and_back, dt, fell=False) == ("standing", pytest.approx(0.0))


def test_fitted_accuracy_reaches_the_bayes_accuracy_and_no_more():
    """Held out, the fitted classifier scores what the best one can: 1 on clusters apart, chance
    on classes drawn alike, and Phi(1)^2 = 0.8413^2 = 0.7079 (by hand, from the normal table) on
    unit normals at the four corners (+-1, +-1), whose best boundaries are the two axes."""
    from skills.metrics import fitted_accuracy

    rng = np.random.default_rng(0)

    def draws(means, n=2000):
        x = np.concatenate([rng.normal(m, 1.0, size=(n, len(m))) for m in means])
        return x, np.repeat(np.arange(len(means)), n)

    apart = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (-10.0, -10.0)]
    assert fitted_accuracy(draws(apart), draws(apart), 4) > 0.999
    alike = [(0.0, 0.0), (0.0, 0.0)]
    assert abs(fitted_accuracy(draws(alike), draws(alike), 2) - 0.5) < 0.03
    corners = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)]
    assert abs(fitted_accuracy(draws(corners), draws(corners), 4) - 0.7079) < 0.02


def test_fallen_on_hand_set_states():
    from skills.metrics import fallen

    def down(name: str, height: float, quat=(1.0, 0.0, 0.0, 0.0)) -> bool:
        env = make_env(name, seed=0)
        env.reset(seed=0)
        base = env.unwrapped
        qpos, qvel = base.init_qpos.copy(), base.init_qvel.copy()
        if name.startswith(("Ant", "Humanoid")):
            qpos[2], qpos[3:7] = height, quat
        else:
            qpos[1] = height
        base.set_state(qpos, qvel)
        return fallen(env)

    flipped = (0.0, 1.0, 0.0, 0.0)  # half a turn about x: the torso's up axis points down
    tilted = (np.cos(np.pi / 6), np.sin(np.pi / 6), 0.0, 0.0)  # 60 degrees: not upside down
    assert not down("Ant-v5", 0.6)
    assert not down("Ant-v5", 1.3)  # a bounce over the healthy range's 1 m top
    assert down("Ant-v5", 0.27, flipped)  # on its back, inside the healthy range
    assert not down("Ant-v5", 0.5, tilted)
    assert down("Ant-v5", 0.1)  # below the range
    assert not down("Humanoid-v5", 1.4) and down("Humanoid-v5", 0.8)
    assert not down("Hopper-v5", 1.25) and down("Hopper-v5", 0.5)
    assert not down("HalfCheetah-v5", 0.0)  # no healthy range: never down


def test_merged_table_keeps_other_runs_and_replaces_a_rerun(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import write_readme

    head = "| robot | run | acc |\n|---|---|---:|\n"
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- robots table -->\n" + head + "| Hopper | h-s0 | 0.1 |\n"
                      "| Hopper | h-s1 | 0.2 |\n| Swimmer | s-s0 | 0.3 |\n<!-- end robots table -->\nafter\n")
    write_readme(readme, "robots", head + "| Hopper | h-s0 | 0.9 |\n| Hopper | h-s2 | 0.4 |\n"
                 "| Ant | a-s0 | 0.5 |\n", merge_on=2)
    rows = readme.read_text().splitlines()
    assert rows[:2] == ["intro", "<!-- robots table -->"]
    assert rows[-2:] == ["<!-- end robots table -->", "after"]
    # The rerun of h-s0 in place, h-s2 after the other Hopper rows, the new robot at the end.
    assert [r.split("|")[2].strip() + "=" + r.split("|")[3].strip() for r in rows[4:-2]] == [
        "h-s0=0.9", "h-s1=0.2", "h-s2=0.4", "s-s0=0.3", "a-s0=0.5"]
    # Without merging, the table is the given runs only.
    write_readme(readme, "robots", head + "| Ant | a-s0 | 0.5 |\n")
    assert readme.read_text().count("| Hopper") == 0


def test_random_baseline_runs_whole_episodes_when_skills_end_at_a_flip():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import random_coverage
    from robots import baseline_options

    options = {"terminate_when_unhealthy": False, "terminate_when_flipped": True}
    cut = random_coverage("Ant-v5", 3, 0, **options)
    whole = random_coverage("Ant-v5", 3, 0, terminate_when_unhealthy=False)
    # A random ant tumbles over within a few hundred steps: cut there, it covers less.
    assert cut < whole
    assert random_coverage("Ant-v5", 3, 0, **baseline_options(options)) == whole


def test_a_benchmark_given_a_dir_that_is_not_a_run_says_so_in_one_line(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "robots.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"robots.py: error: {tmp_path} is not a softskills run")


def test_goal_reaching_on_skills_without_the_position_is_one_line(pointmass_skills):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "goals.py"), str(pointmass_skills),
                           "--goals", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "trained without --feature xy" in proc.stderr


def test_skills_without_a_classifier_are_scored_by_one_fitted_to_their_positions(tmp_path):
    import sys

    from run import main

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from robots import robot_row, table

    run = tmp_path / "metra"
    assert main(["pretrain", "--env", "PointMass-v0", "--method", "metra", "--skills", "4",
                 "--total-steps", "300", "--learning-starts", "100", "--eval-every", "300",
                 "--no-visualize", "--no-progress", "--run-dir", str(run)]) == 0
    row = robot_row(run, moving=0.5, seed=0, episodes=1)
    assert row["classifier"] == "position" and row["skills"] == 4
    assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["accuracy_stochastic"] <= 1.0
    assert "sampled; position classifier) |" in table([row])
