"""SkillEnv: one Discrete action runs a frozen skill for exactly k task steps, sums their
reward, stops with the task's episode, and any Gymnasium agent (here SB3's PPO) can drive it."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from agents.loop import ROBOT_STEPS
from envs.registry import make_env
from envs.skill_env import SkillEnv

DIRECTIONS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 1.0]])


class PushLibrary:
    """A fake skill set for the point mass: skill z pushes with full force in DIRECTIONS[z]."""

    n_skills = len(DIRECTIONS)

    def __init__(self):
        self.calls: list[int] = []

    def act(self, obs: np.ndarray, z: int, deterministic: bool = True) -> np.ndarray:
        assert deterministic and obs.shape == (4,)
        self.calls.append(z)
        return DIRECTIONS[z].astype(np.float32)

    def observed_feature(self, env):
        return None


class Recorder(gym.Wrapper):
    """Counts the task's steps and keeps each action, the observation it was taken in, and the
    reward it got."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.rewards: list[float] = []
        self.actions: list[np.ndarray] = []
        self.states: list[np.ndarray] = []

    def reset(self, **kwargs):
        self.obs, info = self.env.reset(**kwargs)
        return self.obs, info

    def step(self, action):
        self.states.append(self.obs)
        self.obs, r, terminated, truncated, info = self.env.step(action)
        self.rewards.append(r)
        self.actions.append(np.asarray(action))
        return self.obs, r, terminated, truncated, info


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A real (tiny, barely trained) DIAYN skill set on the point mass: a few seconds."""
    from run import main
    from skills.library import SkillLibrary

    d = tmp_path_factory.mktemp("skills") / "run"
    assert main(["pretrain", "--skills", "3", "--total-steps", "300", "--learning-starts", "100",
                 "--hidden", "16", "--disc-hidden", "16", "--batch-size", "16", "--run-dir", str(d),
                 "--no-progress", "--threads", "1", "--no-visualize", "--eval-every", "300",
                 "--eval-episodes", "1"]) in (0, None)
    return SkillLibrary.load(d)


@pytest.mark.parametrize("k", [1, 7])
def test_each_action_runs_the_skill_k_steps_and_sums_the_reward(k):
    task = Recorder(make_env("PointMassGoal-v0", seed=0))
    lib = PushLibrary()
    env = SkillEnv(task, lib, steps_per_skill=k)
    obs, _ = env.reset(seed=0)
    assert env.action_space == gym.spaces.Discrete(4) and env.observation_space == task.observation_space
    for i, z in enumerate([0, 1, 3]):
        obs, r, terminated, truncated, info = env.step(z)
        assert len(task.rewards) == (i + 1) * k and info[ROBOT_STEPS] == k
        assert r == pytest.approx(sum(task.rewards[-k:])) and r < 0  # dense reward: -distance
        np.testing.assert_array_equal(task.actions[-1], DIRECTIONS[z])
        assert lib.calls[-k:] == [z] * k and not (terminated or truncated)
        np.testing.assert_array_equal(obs, task.unwrapped._get_obs())  # the last observation
        assert "distance" in info and info["skill"] == z  # the task's last info comes through


def test_macro_step_stops_when_the_task_terminates():
    env = SkillEnv(make_env("PointMassGoalSparse-v0", seed=0), PushLibrary(), steps_per_skill=50)
    env.reset(seed=0)
    _, r, terminated, truncated, info = env.step(3)  # straight at the goal (2.5, 2.5)
    assert terminated and not truncated and r == 1.0 and info["success"]
    assert 5 < info[ROBOT_STEPS] < 50


def test_macro_step_stops_at_the_time_limit():
    env = SkillEnv(make_env("PointMass-v0", seed=0), PushLibrary(), steps_per_skill=30)
    env.reset(seed=0)
    steps = []
    truncated = False
    while not truncated:
        _, _, terminated, truncated, info = env.step(2)
        steps.append(info[ROBOT_STEPS])
        assert not terminated
    assert steps == [30, 30, 30, 10]  # 100-step episodes


def test_rejects_skills_that_do_not_exist():
    env = SkillEnv(make_env("PointMass-v0", seed=0), PushLibrary(), steps_per_skill=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="skill 4"):
        env.step(4)


def test_check_env_passes_with_fake_and_real_skills(library):
    check_env(SkillEnv(make_env("PointMassGoal-v0"), PushLibrary(), 5), skip_render_check=True)
    check_env(SkillEnv(make_env("PointMassGoal-v0"), library, 5), skip_render_check=True)


def test_real_library_drives_the_task(library):
    task = Recorder(make_env("PointMassGoal-v0", seed=0))
    env = SkillEnv(task, library, steps_per_skill=4)
    obs, _ = env.reset(seed=0)
    for z in (2, 0):
        obs, r, *_, info = env.step(z)
        assert info[ROBOT_STEPS] == 4 and r == pytest.approx(sum(task.rewards[-4:]))
        # Each low-level action is the frozen skill's deterministic action in the state it met.
        for state, action in zip(task.states[-4:], task.actions[-4:]):
            np.testing.assert_allclose(action, library.act(state, z, deterministic=True))
    assert not np.allclose(library.act(obs, 0), library.act(obs, 2))  # the skill z matters
    assert env.action_space.n == library.n_skills == 3


def test_stable_baselines3_ppo_drives_skill_env(library):
    from stable_baselines3 import PPO

    env = SkillEnv(make_env("PointMassGoal-v0", seed=0), library, steps_per_skill=5)
    model = PPO("MlpPolicy", env, n_steps=100, batch_size=50, n_epochs=2, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]})
    model.learn(total_timesteps=300)
    assert model.num_timesteps >= 300
    obs, _ = env.reset(seed=1)
    z, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(z))
    env.step(int(z))


class IdleAnt:
    """A fake skill set for the ant: motors idle; keeps the observation each skill was given."""

    n_skills = 2

    def __init__(self):
        self.seen: list[np.ndarray] = []

    def act(self, obs: np.ndarray, z: int, deterministic: bool = True) -> np.ndarray:
        self.seen.append(obs)
        return np.zeros(8, dtype=np.float32)

    def observed_feature(self, env):
        return None


def test_skills_see_the_robots_observation_and_the_controller_the_tasks():
    task, lib = make_env("AntWaypoints-v0", seed=0), IdleAnt()
    env = SkillEnv(task, lib, steps_per_skill=3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (107,) and env.observation_space.shape == (107,)
    env.step(1)
    assert [o.shape for o in lib.seen] == [(105,)] * 3
    np.testing.assert_array_equal(lib.seen[0], obs[:105])


def test_skills_pretrained_on_the_task_see_its_whole_observation():
    """Skills whose env is the task's own saw the task's entries in pretraining, and see them
    here; the same skills named for another env get the robot's part only."""
    task, lib = make_env("AntWaypoints-v0", seed=0), IdleAnt()
    lib.env_name = "AntWaypoints-v0"
    env = SkillEnv(task, lib, steps_per_skill=1)
    obs, _ = env.reset(seed=0)
    env.step(0)
    assert lib.seen[-1].shape == (107,)
    np.testing.assert_array_equal(lib.seen[-1], obs)
    lib.env_name = "Ant-v5"
    env = SkillEnv(task, lib, steps_per_skill=1)
    obs, _ = env.reset(seed=0)
    env.step(0)
    np.testing.assert_array_equal(lib.seen[-1], obs[:105])


def test_controller_can_see_only_the_tasks_own_entries():
    """observe='task': the controller gets the waypoint relative to the torso (the 2 entries the
    task appends), the skills still the robot's 105, and check_env passes."""
    task, lib = make_env("AntWaypoints-v0", seed=0), IdleAnt()
    env = SkillEnv(task, lib, steps_per_skill=3, observe="task")
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    robot = task.unwrapped
    assert obs.shape == (2,) and env.observation_space.shape == (2,)
    np.testing.assert_allclose(obs, robot.waypoints[0] - robot.data.qpos[:2])
    lib.seen.clear()
    obs, *_ = env.step(1)
    assert [o.shape for o in lib.seen] == [(105,)] * 3
    np.testing.assert_allclose(obs, robot.waypoints[0] - robot.data.qpos[:2])


def test_controller_can_see_the_torsos_pose_beside_the_waypoint():
    """observe='task+pose': the torso's height and orientation quaternion (qpos[2:7], the ant's
    first 5 entries), then the waypoint."""
    task = make_env("AntWaypoints-v0", seed=0)
    env = SkillEnv(task, IdleAnt(), steps_per_skill=3, observe="task+pose")
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    obs, *_ = env.step(0)
    data = task.unwrapped.data
    assert obs.shape == (7,) and env.observation_space.shape == (7,)
    np.testing.assert_allclose(obs[:5], data.qpos[2:7])
    np.testing.assert_allclose(obs[5:], task.unwrapped.waypoints[0] - data.qpos[:2])


def test_controller_can_see_the_skill_that_ran_last():
    """last_skill=True: after the task's entries, the one-hot of the skill the last step ran,
    all zeros at an episode's start; the skills still see the robot's entries alone."""
    task, lib = make_env("AntWaypoints-v0", seed=0), IdleAnt()
    env = SkillEnv(task, lib, steps_per_skill=3, observe="task", last_skill=True)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape == (4,)
    np.testing.assert_array_equal(obs[2:], [0.0, 0.0])
    lib.seen.clear()
    for z, one_hot in ((1, [0.0, 1.0]), (0, [1.0, 0.0]), (0, [1.0, 0.0])):
        obs, *_ = env.step(z)
        np.testing.assert_array_equal(obs[2:], one_hot)
        np.testing.assert_allclose(obs[:2], task.unwrapped.waypoints[0] - task.unwrapped.data.qpos[:2])
    assert [o.shape for o in lib.seen] == [(105,)] * 9
    obs, _ = env.reset(seed=1)
    np.testing.assert_array_equal(obs[2:], [0.0, 0.0])  # a new episode: no skill yet
    # Beside the whole observation too, with the observation space's bounds for a one-hot.
    env = SkillEnv(make_env("PointMassGoal-v0", seed=0), PushLibrary(), 2, last_skill=True)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (8,)
    np.testing.assert_array_equal(env.observation_space.low[4:], 0.0)
    np.testing.assert_array_equal(env.observation_space.high[4:], 1.0)
    env.reset(seed=0)
    obs, *_ = env.step(3)
    np.testing.assert_array_equal(obs[4:], [0.0, 0.0, 0.0, 1.0])


def test_a_choice_also_says_how_long_its_skill_runs():
    """durations (1, 5) with k = 3: action z runs skill z for 3 robot steps, action K + z runs it
    for 15; the controller sees the skill that ran (not its duration) and a hold is cut short by
    the episode's end as any choice is."""
    task, lib = Recorder(make_env("PointMass-v0", seed=0)), PushLibrary()
    env = SkillEnv(task, lib, steps_per_skill=3, last_skill=True, durations=(1, 5))
    check_env(env, skip_render_check=True)
    assert env.action_space == gym.spaces.Discrete(8)
    env.reset(seed=0)
    lib.calls.clear()
    for action, z, n in ((1, 1, 3), (4 + 1, 1, 15), (4 + 2, 2, 15), (0, 0, 3)):
        obs, r, terminated, truncated, info = env.step(action)
        assert info[ROBOT_STEPS] == n and info["skill"] == z and lib.calls[-n:] == [z] * n
        assert r == pytest.approx(sum(task.rewards[-n:]))
        np.testing.assert_array_equal(obs[4:], np.eye(4)[z])
    steps = [env.step(7)[4][ROBOT_STEPS] for _ in range(5)]
    assert steps == [15, 15, 15, 15, 4]  # 100-step episodes: 36 steps ran, then 15 x 4 and 4
    with pytest.raises(ValueError, match="skill 8"):
        env.step(8)
    for bad in ((), (0,), (1, 2.5), (10, 10)):
        with pytest.raises(ValueError, match="durations must be distinct whole numbers"):
            SkillEnv(make_env("PointMass-v0"), PushLibrary(), 3, durations=bad)


class TaskWithoutPose(gym.Env):
    """Two robot entries and one of the task's, with no `pose_obs_dim`."""

    robot_obs_dim = 2
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,))
    action_space = gym.spaces.Box(-1.0, 1.0, (2,))


def test_observe_task_needs_a_task_with_entries_of_its_own():
    with pytest.raises(ValueError, match="pose_obs_dim"):
        SkillEnv(TaskWithoutPose(), PushLibrary(), 2, observe="task+pose")
    assert SkillEnv(TaskWithoutPose(), PushLibrary(), 2, observe="task").observation_space.shape == (1,)
    with pytest.raises(ValueError, match="appends no entries"):
        SkillEnv(make_env("PointMassGoal-v0"), PushLibrary(), 2, observe="task")
    with pytest.raises(ValueError, match="must be"):
        SkillEnv(make_env("PointMassGoal-v0"), PushLibrary(), 2, observe="robot")


class SteerLibrary:
    """Continuous fake skills for the point mass: skill z pushes with force z (a unit vector)."""

    n_skills = 2
    continuous_dim = 2

    def __init__(self):
        self.calls: list[np.ndarray] = []

    def act(self, obs, z, deterministic=True):
        self.calls.append(np.asarray(z))
        return np.asarray(z, np.float32)

    def observed_feature(self, env):
        return None

    def shown_skills(self):
        return [np.array([1.0, 0.0], np.float32)]


def test_continuous_skills_are_a_box_of_directions():
    lib = SteerLibrary()
    env = SkillEnv(make_env("PointMass-v0", seed=0), lib, steps_per_skill=3, last_skill=True)
    assert isinstance(env.action_space, gym.spaces.Box) and env.action_space.shape == (2,)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs[4:], [0.0, 0.0])  # no skill ran yet
    obs, *_ = env.step(np.array([0.3, 0.4]))
    np.testing.assert_allclose(lib.calls[-1], [0.6, 0.8], atol=1e-6)  # the direction, unit length
    assert len(lib.calls) == 3
    np.testing.assert_allclose(obs[4:], [0.6, 0.8], atol=1e-6)  # the controller sees it next
    env.step(np.zeros(2))  # no direction at all: the first shown skill
    np.testing.assert_array_equal(lib.calls[-1], [1.0, 0.0])
    with pytest.raises(ValueError, match="not a vector of 2 finite entries"):
        env.step(np.array([np.nan, 1.0]))
    check_env(SkillEnv(make_env("PointMass-v0", seed=0), lib, 3), skip_render_check=True)
    with pytest.raises(ValueError, match="durations are choices beside discrete skills"):
        SkillEnv(make_env("PointMass-v0"), lib, 3, durations=(1, 10))
