"""The loop stores the true final observation at a time-limit truncation, and never marks a
truncation as a termination (so the critic bootstraps through it)."""

import re

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

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


class _Corridor(gym.Env):
    """Cells 0..25, start at 0, action 1 steps right and 0 left (a wall at 0); reaching cell 25
    pays 1 and ends the episode, which is cut at 50 steps. A uniform random walk gets that far
    in about one episode of 2300 (simulated); one that holds its steps in runs gets there often."""

    n = 25
    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = 0, 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.x, self.t = max(self.x + (1 if int(action) == 1 else -1), 0), self.t + 1
        goal = self.x == self.n
        return np.array([self.x / self.n], np.float32), float(goal), goal, self.t == 50, {}


class _Counter:
    """An agent whose every act() returns a new action (its call count): a step that repeats the
    previous step's action was held by the loop."""

    cfg = SACConfig(learning_starts=0, buffer_size=10_000)
    device = "cpu"

    def __init__(self):
        self.calls = 0

    def act(self, obs, deterministic=False):
        self.calls += 1
        return np.array([self.calls], np.float32)

    def update(self, batch):
        return {}

    def state_dict(self):
        return {}


@pytest.mark.parametrize("hold_prob", [0.0, 0.75])
def test_hold_prob_holds_that_share_of_steps_and_never_an_episodes_first(tmp_path, hold_prob):
    env = _MacroSteps()  # 4 steps an episode
    env.action_space = gym.spaces.Box(-1e9, 1e9, (1,), np.float32)
    agent = _Counter()
    loop = OffPolicyLoop(LoopConfig(total_steps=3 * 4000, eval_every=10**9, progress=False,
                                    hold_prob=hold_prob), env, agent, lambda policy: {}, tmp_path)
    loop.run()
    a = loop.buffer._np["action"][:4000, 0].reshape(-1, 4)  # one row per episode
    held = a[:, 1:] == a[:, :-1]
    assert len(np.unique(a[:, 0])) == len(a)  # an episode's first step is always drawn anew
    # 3000 Bernoulli(hold_prob) draws: 5 standard deviations is 0.04 at most
    assert abs(held.mean() - hold_prob) < 0.04
    assert agent.calls == 4000 - held.sum()


def test_a_run_repeats_where_the_env_was_made_without_a_seed(tmp_path):
    """The warm-up's random actions come from the env's action space, which the loop seeds: two
    runs of one seed on an env whose space nobody seeded (as a hierarchy's SkillEnv) store the
    same actions, and another seed other ones."""
    from agents.discrete import DiscreteConfig, SoftQ

    def actions(seed: int, name: str) -> np.ndarray:
        agent = SoftQ(1, 2, DiscreteConfig(learning_starts=300))
        env = _Corridor()
        env.action_space = gym.spaces.Discrete(2)  # a space of its own, never seeded
        (tmp_path / name).mkdir()
        cfg = LoopConfig(total_steps=300, eval_every=10**9, progress=False, seed=seed)
        loop = OffPolicyLoop(cfg, env, agent, lambda policy: {}, tmp_path / name)
        loop.run()
        return loop.buffer._np["action"][:300, 0].copy()

    first, again, other = actions(0, "a"), actions(0, "b"), actions(1, "c")
    np.testing.assert_array_equal(first, again)
    assert (first != other).mean() > 0.3  # two random streams differ on about half the steps


def _corridor_learning(tmp_path, env_cls, hold_prob: float = 0.0, stay_prior: float = 0.0,
                       seed: int = 0):
    """Soft Q-learning (gamma 0.95) for 6000 robot steps on a corridor, seeded: how many stored
    choices reached the reward, and its greedy return after."""
    from agents.discrete import DiscreteConfig, SoftQ

    env = env_cls()
    torch.manual_seed(seed)
    agent = SoftQ(env.observation_space.shape[0], int(env.action_space.n), DiscreteConfig(
        hidden=(32, 32), learning_starts=500, gamma=0.95, stay_prior=stay_prior))
    run_dir = tmp_path / f"{env_cls.__name__}-hold{hold_prob}-stay{stay_prior}-seed{seed}"
    run_dir.mkdir()
    cfg = LoopConfig(total_steps=6000, eval_every=10**9, progress=False, hold_prob=hold_prob,
                     seed=seed)
    loop = OffPolicyLoop(cfg, env, agent, lambda policy: {}, run_dir)
    loop.run()
    greedy = evaluate_returns(env_cls(), lambda obs, _: agent.act(obs, deterministic=True), 1)
    return (loop.buffer._np["reward"][:len(loop.buffer)] > 0).sum(), greedy["eval/return"]


def test_held_exploration_finds_a_reward_that_fresh_draws_miss(tmp_path):
    """Soft Q-learning on _Corridor: holding its choices (hold_prob 0.9, runs of 10 steps on
    average) it reaches the far end and learns to walk there greedily; drawing every step, with
    the same seed and budget, it rarely sees the reward and does not learn to walk there."""
    fresh = _corridor_learning(tmp_path, _Corridor, hold_prob=0.0)
    held = _corridor_learning(tmp_path, _Corridor, hold_prob=0.9)
    # seeds 0-3: fresh draws 29, 0, 0, 0 rewards, never walking there greedily; held 140-151
    assert fresh[1] == 0.0 and fresh[0] <= held[0] / 4, (fresh, held)
    assert held[0] >= 100 and held[1] == 1.0, held


class _CorridorLastAction(_Corridor):
    """_Corridor whose observation also shows the last action taken, one-hot (zeros at the start),
    as a hierarchy's controller sees its last skill."""

    observation_space = gym.spaces.Box(0.0, 1.0, (3,), np.float32)

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        return np.r_[obs, 0.0, 0.0].astype(np.float32), info

    def step(self, action):
        obs, *rest = super().step(action)
        return (np.r_[obs, np.eye(2)[int(action)]].astype(np.float32), *rest)


def test_a_sticky_prior_finds_a_reward_that_a_uniform_one_misses(tmp_path):
    """Soft Q-learning whose entropy bonus is a KL to a prior that repeats the last action with
    probability 0.9 (`stay_prior`) acts in runs from the first update on, reaches _Corridor's
    far end and learns to walk there greedily; with the uniform prior, the same seed and budget,
    it rarely sees the reward and does not learn to walk there. No action is held by the loop:
    the runs are the policy's own."""
    uniform = _corridor_learning(tmp_path, _CorridorLastAction, stay_prior=0.0)
    sticky = _corridor_learning(tmp_path, _CorridorLastAction, stay_prior=0.9)
    # seeds 0-3: the uniform prior 0 rewards on each, the sticky one 169-197
    assert uniform[1] == 0.0 and uniform[0] <= sticky[0] / 4, (uniform, sticky)
    assert sticky[0] >= 100 and sticky[1] == 1.0, sticky


class _Steps:
    """A skill set for _Corridor whose skill z is the corridor's own action z."""

    n_skills = 2
    continuous_dim = 0

    def act(self, obs, z, deterministic=True):
        return z

    def observed_feature(self, env):
        return None


def _corridor_by_choices():
    """_Corridor under a controller (a SkillEnv) whose choices each run one step."""
    from envs.skill_env import SkillEnv

    return SkillEnv(_Corridor(), _Steps(), 1, gamma=0.95)


def _corridor_by_choices_of_two_lengths():
    """_Corridor under a controller whose choices run a step for 1 robot step or for 10."""
    from envs.skill_env import SkillEnv

    return SkillEnv(_Corridor(), _Steps(), 1, gamma=0.95, durations=(1, 10))


def test_choices_that_say_how_long_find_a_reward_that_one_step_choices_miss(tmp_path):
    """A controller that may also run its choice for 10 robot steps (SkillEnv's `durations`)
    reaches _Corridor's far end, 25 steps of one action away, in three long choices, and learns
    to go there greedily; with one-step choices, the same seed and robot steps, it does not.
    The loop counts robot steps either way, so both had the same experience to learn from."""
    short = _corridor_learning(tmp_path, _corridor_by_choices)
    both = _corridor_learning(tmp_path, _corridor_by_choices_of_two_lengths)
    # seeds 0-3: one-step choices 29, 0, 0, 0 rewards (as _Corridor's fresh draws), never going
    # there greedily; with 10-step choices too, 141, 155, 128 and 139, going there each time
    assert short[1] == 0.0 and short[0] <= both[0] / 4, (short, both)
    assert both[0] >= 100 and both[1] == 1.0, both
