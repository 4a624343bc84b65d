"""The loop stores the true final observation at a time-limit truncation, and never marks a
truncation as a termination (so the critic bootstraps through it)."""

import re

import gymnasium as gym
import numpy as np
import pandas as pd

from agents.loop import (
    EPISODE_METRICS,
    ROBOT_STEPS,
    LoopConfig,
    OffPolicyLoop,
    evaluate_returns,
    progress_fields,
)
from agents.sac import SAC, SACConfig
from envs.registry import make_env


def test_truncation_is_stored_as_non_terminal_with_the_true_last_state(tmp_path):
    env = make_env("PointMass-v0", seed=0)  # 100-step episodes, never terminated
    agent = SAC(4, 2, SACConfig(hidden=(8,), batch_size=8, learning_starts=1000))
    loop = OffPolicyLoop(LoopConfig(total_steps=250, eval_every=10_000, progress=False), env, agent,
                         lambda policy: {}, tmp_path)
    loop.run()
    d = loop.buffer._np
    assert not d["terminated"][:250].any()
    # within an episode, s' of step t is s of step t + 1
    np.testing.assert_array_equal(d["next_obs"][:99], d["obs"][1:100])
    # at the truncation the stored s' is the last state of the episode, not the reset state
    assert not np.allclose(d["next_obs"][99], d["obs"][100])
    assert np.abs(d["obs"][100][:2]).max() <= 0.1  # the next episode starts near the centre
    assert np.abs(d["next_obs"][99][:2]).max() > 0.5  # the old one had wandered off


def test_progress_bar_shows_training_between_evaluations(tmp_path, capsys):
    """Between evaluations (every 50k steps on a robot) the bar must still move: it shows the
    training window's return, and the last evaluation's under its own name."""
    assert progress_fields({"train/episode_return": -12.345, "eval/return": 3.0, "train/q": 1.0}) == {
        "return": "-12.3", "eval_return": "3"}
    env = make_env("PointMass-v0", seed=0)
    agent = SAC(4, 2, SACConfig(hidden=(8,), batch_size=8, learning_starts=1000))
    loop = OffPolicyLoop(LoopConfig(total_steps=300, eval_every=10_000, log_every=100, progress=True),
                         env, agent, lambda policy: {"eval/return": -7.0}, tmp_path)
    loop.run()
    shown = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert re.search(r"[ ,]return=-?[0-9]", shown) and "eval_return=-7" in shown, shown


class _MacroSteps(gym.Env):
    """Each step stands for 3 robot steps (ROBOT_STEPS), episodes end after 4 steps: 12 robot
    steps, as a hierarchy's choice of a skill for k steps reports it."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, np.float32), 1.0, False, self.t == 4, {ROBOT_STEPS: 3}


def test_episode_lengths_count_robot_steps(tmp_path):
    """train/ and eval/episode_length in robot steps, as the loop's step counter: a hierarchy's
    episode of 4 choices of 3 steps is 12 long, not 4."""
    ev = evaluate_returns(_MacroSteps(), lambda obs, skill: np.zeros(1, np.float32), episodes=2)
    assert ev["eval/episode_length"] == 12 and ev["eval/return"] == 4
    agent = SAC(2, 1, SACConfig(hidden=(8,), batch_size=8, learning_starts=1000))
    loop = OffPolicyLoop(LoopConfig(total_steps=120, eval_every=10_000, log_every=60, progress=False),
                         _MacroSteps(), agent, lambda policy: {}, tmp_path)
    loop.run()
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    lengths = metrics["train/episode_length"].dropna()
    assert loop.step == 120 and len(lengths) == 2 and (lengths == 12).all()


class _Scored(_MacroSteps):
    """_MacroSteps whose task reports a measure of each episode: 100 on every step but the last,
    where it is the episode's number (1, 2, ...)."""

    episode = 0

    def reset(self, *, seed=None, options=None):
        self.episode += 1
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, r, terminated, truncated, info = super().step(action)
        info[EPISODE_METRICS] = {"hurdles_passed": self.episode if truncated else 100}
        return obs, r, terminated, truncated, info


def test_evaluation_reports_the_tasks_episode_metrics_at_the_last_step():
    ev = evaluate_returns(_Scored(), lambda obs, skill: np.zeros(1, np.float32), episodes=3)
    assert ev["eval/hurdles_passed"] == 2.0  # mean of 1, 2, 3; never the 100 of earlier steps
    assert "eval/hurdles_passed" not in evaluate_returns(
        _MacroSteps(), lambda obs, skill: np.zeros(1, np.float32), episodes=1)
