"""The hierarchy works: a maxent controller over pretrained skills beats picking skills at random."""

import json
import shutil

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

from agents.checkpoint import load_checkpoint
from agents.loop import evaluate_returns
from envs.registry import make_env
from envs.skill_env import SkillEnv
from run import main
from skills.library import SkillLibrary

K_STEPS = 10


def _random_controller_return(skills_dir, episodes: int = 20) -> float:
    lib = SkillLibrary.load(skills_dir)
    env = SkillEnv(make_env("PointMassGoal-v0", seed=10_000), lib, K_STEPS)
    rng = np.random.default_rng(0)
    return evaluate_returns(env, lambda obs, _: int(rng.integers(lib.n_skills)), episodes)["eval/return"]


def test_hierarchy_beats_random_skill_choice(pointmass_skills, tmp_path):
    code = main(["hierarchy", "--skills-from", str(pointmass_skills), "--task", "PointMassGoal-v0",
                 "--steps-per-skill", str(K_STEPS), "--total-steps", "6000", "--learning-starts", "500",
                 "--eval-every", "6000", "--eval-episodes", "5", "--seed", "0", "--run-dir", str(tmp_path),
                 "--no-progress"])
    assert code == 0
    df = pd.read_csv(tmp_path / "metrics.csv")
    learned = df["eval/return"].dropna().iloc[-1]
    random = _random_controller_return(pointmass_skills)
    # Dense reward is minus the distance to the goal, summed over 100 steps: a clear margin.
    assert learned > random + 100, (learned, random)
    assert df["step"].iloc[-1] == 6000  # steps count the robot's steps, not the controller's


def test_controller_discounts_per_robot_step(pointmass_skills, tmp_path, monkeypatch):
    """--gamma is per robot step, as the user set it: the controller's config keeps it, and
    each stored choice carries its robot steps, so that the target discounts it by gamma^n:
    k = 30 on PointMass's 100-step episodes makes choices of 30, 30, 30 and 10 steps."""
    from agents import discrete

    built = []
    original = discrete.SoftQ.__init__
    monkeypatch.setattr(discrete.SoftQ, "__init__", lambda self, obs, n, cfg, device="cpu": (
        built.append(cfg), original(self, obs, n, cfg, device))[-1])
    code = main(["hierarchy", "--skills-from", str(pointmass_skills), "--task", "PointMassGoal-v0",
                 "--steps-per-skill", "30", "--gamma", "0.9", "--total-steps", "200",
                 "--learning-starts", "10", "--eval-every", "200", "--eval-episodes", "1",
                 "--run-dir", str(tmp_path), "--no-progress"])
    assert code == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["agent"]["gamma"] == pytest.approx(0.9) and built[0].gamma == pytest.approx(0.9)
    steps = load_checkpoint(tmp_path / "checkpoints")["buffer"]["steps"].tolist()
    assert steps == [30, 30, 30, 10, 30, 30, 30, 10]


class _Idle:
    """Two skills that do nothing: the task's reward alone decides each choice's return."""

    n_skills = 2

    def act(self, obs, z, deterministic=True):
        return np.zeros(1, np.float32)

    def observed_feature(self, env):
        return None


class _ConstantReward(gym.Env):
    """Reward 1 on every step, never terminates; a TimeLimit ends its episodes."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 1.0, False, False, {}


def test_controller_target_is_the_semi_mdp_one(tmp_path, monkeypatch):
    """Constant reward 1, k = 10, gamma 0.99: a choice's stored reward is sum_{i<10} 0.99^i =
    9.5618, not 10; a 25-step time limit cuts the third choice to 5 steps, stored with 4.9010
    and bootstrapped with 0.99^5 = 0.9510, not 0.99^10 = 0.9044; returns report the plain sum."""
    from agents import discrete
    from agents.discrete import DiscreteConfig, SoftQ
    from agents.loop import LoopConfig, OffPolicyLoop

    gamma, k = 0.99, 10
    def make():
        return SkillEnv(gym.wrappers.TimeLimit(_ConstantReward(), 25), _Idle(), k, gamma=gamma)

    agent = SoftQ(1, 2, DiscreteConfig(gamma=gamma, batch_size=3, learning_starts=1000))
    cfg = LoopConfig(total_steps=75, eval_every=75, eval_episodes=1, progress=False)
    eval_env = make()
    loop = OffPolicyLoop(cfg, make(), agent, lambda p: evaluate_returns(eval_env, p, 1), tmp_path)
    final = loop.run()
    assert final["eval/return"] == 25.0 and final["eval/episode_length"] == 25.0
    assert len(loop.buffer) == 9
    batch = loop.buffer.gather(torch.arange(3))
    np.testing.assert_allclose(batch.reward, [9.561792, 9.561792, 4.900995], rtol=1e-6)
    np.testing.assert_array_equal(batch.steps, [10, 10, 5])

    seen = []
    target = discrete.soft_q_target
    monkeypatch.setattr(discrete, "soft_q_target",
                        lambda r, t, d, v: (seen.append(d), target(r, t, d, v))[-1])
    agent.update(batch)
    np.testing.assert_allclose(seen[0], [gamma**10, gamma**10, gamma**5], rtol=1e-6)


def test_hierarchy_finds_a_sparse_goal(pointmass_skills, tmp_path):
    """The paper's case for a hierarchy: the sparse goal (+1 within 0.5 m, 3.5 m away), which
    uniformly random actions never reach in 200 episodes and random skill choices reach in ~5%
    of them; the controller must then reach it in (almost) every evaluation episode. (Seeds 0-4
    on such skills reach it in 10 of 10 from 12k steps on, with dips before: hence 16k.)"""
    code = main(["hierarchy", "--skills-from", str(pointmass_skills), "--task", "PointMassGoalSparse-v0",
                 "--steps-per-skill", str(K_STEPS), "--total-steps", "16000", "--learning-starts", "500",
                 "--eval-every", "16000", "--eval-episodes", "10", "--seed", "0", "--run-dir", str(tmp_path),
                 "--no-progress"])
    assert code == 0
    success = pd.read_csv(tmp_path / "metrics.csv")["eval/return"].dropna().iloc[-1]
    assert success >= 0.8, success  # eval return = the fraction of episodes that reach the goal


def test_resume_reads_skills_and_task_from_the_run(pointmass_skills, tmp_path, capsys):
    """`--resume --run-dir DIR` alone continues a hierarchy run (as for every command): the skill
    set and task come from its config.json; naming other ones is refused in one line."""
    common = ["--eval-every", "40", "--eval-episodes", "1", "--no-progress"]
    assert main(["hierarchy", "--skills-from", str(pointmass_skills), "--task", "PointMassGoal-v0",
                 "--steps-per-skill", "5", "--learning-starts", "10", "--total-steps", "40",
                 "--run-dir", str(tmp_path), *common]) == 0
    # the same skills named by another path are the same skills
    same = ["--skills-from", str(pointmass_skills / ".." / pointmass_skills.name)]
    assert main(["hierarchy", "--resume", *same, "--total-steps", "80", "--run-dir", str(tmp_path),
                 *common]) == 0
    assert pd.read_csv(tmp_path / "metrics.csv")["step"].iloc[-1] == 80
    capsys.readouterr()
    other = ["--task", "PointMassGoalSparse-v0"]
    assert main(["hierarchy", "--resume", *other, "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differs from the run's PointMassGoal-v0" in err, err
    assert main(["hierarchy", "--task", "PointMassGoal-v0", "--run-dir", str(tmp_path / "new")]) == 2
    assert "needs --skills-from" in capsys.readouterr().err


def test_skills_moved_away_from_a_run_are_one_line_saying_to_restore_them(pointmass_skills, tmp_path,
                                                                          capsys, monkeypatch):
    """A hierarchy run reads its skills from the pretraining run named in its config.json; where
    that has gone, resuming or filming the run says which path to restore, and where a relative
    one is looked for, in one line (not "start a new run", which would be the wrong advice)."""
    shutil.copytree(pointmass_skills, tmp_path / "skills")
    monkeypatch.chdir(tmp_path)
    assert main(["hierarchy", "--skills-from", "skills", "--task", "PointMassGoal-v0", "--steps-per-skill",
                 "5", "--learning-starts", "10", "--total-steps", "20", "--eval-every", "20",
                 "--eval-episodes", "1", "--run-dir", "hier", "--no-progress"]) == 0
    (tmp_path / "skills").rename(tmp_path / "moved")
    capsys.readouterr()
    for argv in (["hierarchy", "--resume", "--total-steps", "40"], ["visualize"]):
        assert main([*argv, "--run-dir", "hier", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert "skills are read from its pretraining run, which cannot be read" in err, err
        assert err.endswith(f"restore skills, relative to {tmp_path}"), err


@pytest.mark.parametrize("option, message", [
    # PointMassGoal-v0's observation is the point mass's alone: nothing for `task` to show.
    ({"controller_obs": "task"}, "appends no entries"),
    # skill_rotations turns skills by the Ant's symmetry (skills/symmetry.py).
    ({"skill_rotations": 4}, "defined for the Ant"),
])
def test_options_the_point_mass_cannot_take(pointmass_skills, tmp_path, capsys, option, message):
    """Options that need what the point mass lacks: a one-line error, exit 2, before anything
    trains. They are experiment settings, set in a config file."""
    config = tmp_path / "c.json"
    config.write_text(json.dumps(option))
    code = main(["hierarchy", "--skills-from", str(pointmass_skills), "--task", "PointMassGoal-v0",
                 "--config", str(config), "--total-steps", "20", "--run-dir", str(tmp_path / "r"),
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "r" / "metrics.csv").exists()


def test_config_file_options_are_kept_and_resumed(pointmass_skills, tmp_path):
    """Options from a config file (the controller's input, its greedy choice) and from flags are
    written to the run's config.json, and a resume rebuilds the same controller from it."""
    n_skills = SkillLibrary.load(pointmass_skills).n_skills
    config_file = tmp_path / "c.json"
    config_file.write_text(json.dumps({"last_skill_obs": True, "agent": {"greedy_on_target": True}}))
    run = tmp_path / "run"
    code = main(["hierarchy", "--skills-from", str(pointmass_skills), "--task", "PointMassGoal-v0",
                 "--config", str(config_file), "--steps-per-skill", "5", "--target-entropy-ratio", "0.5",
                 "--total-steps", "20", "--learning-starts", "10", "--eval-every", "20",
                 "--eval-episodes", "1", "--run-dir", str(run), "--no-progress"])
    assert code == 0
    config = json.loads((run / "config.json").read_text())
    assert config["agent"]["target_entropy_ratio"] == pytest.approx(0.5)
    assert config["agent"]["greedy_on_target"] is True
    assert config["last_skill_obs"] is True
    # The controller was built for the task's 4 entries and the last skill's K, and a resume
    # (which rebuilds the env from config.json) keeps that input.
    agent = load_checkpoint(run / "checkpoints")["agent"]
    assert agent["q"]["nets.0.0.weight"].shape[1] == 4 + n_skills
    assert main(["hierarchy", "--resume", "--run-dir", str(run), "--total-steps", "40",
                 "--no-progress"]) == 0
    assert pd.read_csv(run / "metrics.csv")["step"].iloc[-1] == 40


def test_skills_pretrained_on_the_task_drive_it(tmp_path):
    """Skills pretrained reward-free on CheetahHurdle-v0 itself take its 18-entry observation
    (the next hurdle's distance too, and the torso's x they asked for): a controller runs them."""
    skills, hier = tmp_path / "skills", tmp_path / "hier"
    assert main(["pretrain", "--env", "CheetahHurdle-v0", "--skills", "2", "--feature", "x",
                 "--total-steps", "200", "--learning-starts", "100", "--hidden", "16",
                 "--disc-hidden", "16", "--eval-every", "200", "--threads", "1",
                 "--run-dir", str(skills), "--no-progress", "--no-visualize"]) == 0
    lib = SkillLibrary.load(skills)
    assert lib.obs_dim == 19
    assert main(["hierarchy", "--skills-from", str(skills), "--task", "CheetahHurdle-v0",
                 "--total-steps", "100", "--learning-starts", "50", "--eval-every", "100",
                 "--eval-episodes", "1", "--run-dir", str(hier), "--no-progress"]) == 0
    assert pd.read_csv(hier / "metrics.csv")["step"].iloc[-1] == 100
