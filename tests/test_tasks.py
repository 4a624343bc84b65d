"""The DIAYN paper's downstream tasks: registered, valid Gymnasium envs, on the robots the skills
learned on; hurdles that block; gear 30; waypoints rewarded once each, in order."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from agents.loop import EPISODE_METRICS
from envs.registry import (
    RobotMismatchError,
    UnknownEnvError,
    check_same_robot,
    env_features,
    env_names,
    make_env,
    robot_of,
)
from envs.skill_env import robot_obs_dim
from envs.tasks import WAYPOINTS

TASKS = ["CheetahHurdle-v0", "HalfCheetahSparse-v0", "AntLowGear-v0", "AntWaypoints-v0"]


@pytest.mark.parametrize("name", TASKS)
def test_task_passes_check_env_and_is_registered(name):
    assert name in env_names()
    check_env(make_env(name).unwrapped, skip_render_check=True)


@pytest.mark.parametrize("task, robot_env, feature, extra", [
    ("CheetahHurdle-v0", "HalfCheetah-v5", "x", 1),
    ("HalfCheetahSparse-v0", "HalfCheetah-v5", "x", 1),
    ("AntLowGear-v0", "Ant-v5", "xy", 0),
    ("AntWaypoints-v0", "Ant-v5", "xy", 2),
])
def test_task_starts_with_the_robots_observation_and_exposes_positions(task, robot_env, feature, extra):
    env = make_env(task, seed=0)
    robot = make_env(robot_env).observation_space.shape[0]
    assert env.observation_space.shape == (robot + extra,) and robot_obs_dim(env) == robot
    env.step(env.action_space.sample())
    np.testing.assert_allclose(env_features(env)[feature](), env.unwrapped.data.qpos[:len(feature)],
                               rtol=1e-6)


def test_cheetah_hurdle_is_half_cheetah_until_a_hurdle_is_touched():
    # Same seed, same actions, first 10 steps (no hurdle within reach): same states, and the
    # reward is the x-velocity alone (no control cost).
    hurdle, plain = make_env("CheetahHurdle-v0", seed=3), make_env("HalfCheetah-v5", seed=3)
    np.testing.assert_array_equal(hurdle.reset(seed=3)[0][:17], plain.reset(seed=3)[0])
    assert hurdle.unwrapped.model.body_mass.sum() == pytest.approx(14.0)
    rng = np.random.default_rng(0)
    for _ in range(10):
        a = rng.uniform(-1, 1, 6).astype(np.float32)
        obs_h, r_h, *_, info = hurdle.step(a)
        obs_p, *_ = plain.step(a)
        np.testing.assert_allclose(obs_h[:17], obs_p, atol=1e-9)
        assert r_h == pytest.approx(info["x_velocity"]) and r_h != 0.0


def test_hurdles_are_where_the_paper_puts_them():
    model = make_env("CheetahHurdle-v0").unwrapped.model
    xs = sorted(model.geom(f"hurdle_{i}").pos[0] for i in range(21))
    np.testing.assert_allclose(xs, -1.0 + 3.0 * np.arange(21))
    box = model.geom("hurdle_1")
    np.testing.assert_allclose([2 * box.size[0], 2 * box.size[2], box.pos[2] + box.size[2]],
                               [0.1, 0.25, 0.25])


def _pushed_x(name: str, force: float = 60.0, steps: int = 100) -> float:
    """Final x of a cheetah whose torso is pushed forward by a constant force, joints idle."""
    env = make_env(name, seed=0)
    env.reset(seed=0)
    data, torso = env.unwrapped.data, env.unwrapped.model.body("torso").id
    for _ in range(steps):
        data.xfrc_applied[torso, 0] = force
        env.step(np.zeros(6, dtype=np.float32))
    return float(data.qpos[0])


def test_hurdle_blocks_a_cheetah_that_does_not_jump():
    # The same push carries the cheetah far on open ground but not past the hurdle at x = 2:
    # its front leg (about 0.6 m ahead of the root) hits the hurdle.
    assert _pushed_x("HalfCheetah-v5") > 5.0
    assert _pushed_x("CheetahHurdle-v0") < 2.0 - 0.3


def _hurdle_step_at(root_x: float) -> tuple[np.ndarray, dict, float]:
    """Observation, info and the back foot's x after one idle step from the initial pose with
    the root at x = root_x, lifted 0.3 m so that no part rests in a hurdle (a 1 cm fall)."""
    env = make_env("CheetahHurdle-v0", seed=0)
    env.reset(seed=0)
    u = env.unwrapped
    qpos = u.init_qpos.copy()
    qpos[0], qpos[1] = root_x, 0.3
    u.set_state(qpos, np.zeros(u.model.nv))
    obs, *_, info = env.step(np.zeros(6, dtype=np.float32))
    return obs, info, float(u.data.geom_xpos[u.model.geom("bfoot").id, 0])


def _hurdles_passed_at(root_x: float) -> int:
    return _hurdle_step_at(root_x)[1][EPISODE_METRICS]["hurdles_passed"]


def test_a_hurdle_counts_once_it_is_behind_the_back_foot():
    # The back foot sits ~0.49 m behind the root, the hurdle at x = 2 spans 1.95 to 2.05.
    assert _hurdles_passed_at(0.0) == 0  # the hurdle at x = -1, behind at the start, never counts
    assert _hurdles_passed_at(2.3) == 0  # torso over and past it, the hind leg not yet
    assert _hurdles_passed_at(2.7) == 1
    assert _hurdles_passed_at(8.7) == 3  # x = 2, 5 and 8


def test_hurdle_observation_is_the_next_hurdles_distance_from_the_back_foot():
    for root_x, near_side in [(0.0, 1.95), (2.3, 1.95), (2.7, 4.95), (60.0, None)]:
        obs, _, foot = _hurdle_step_at(root_x)
        assert foot == pytest.approx(root_x - 0.55, abs=0.1)  # behind the root, where the pose puts it
        expected = 3.0 if near_side is None else near_side - foot  # past the last hurdle: spacing
        assert obs[17] == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("name", ["AntLowGear-v0", "AntWaypoints-v0"])
def test_low_gear_ant_has_gear_30(name):
    np.testing.assert_array_equal(make_env(name).unwrapped.model.actuator_gear[:, 0], np.full(8, 30.0))
    np.testing.assert_array_equal(make_env("Ant-v5").unwrapped.model.actuator_gear[:, 0], np.full(8, 150.0))


def _teleport_and_step(env, xy) -> tuple[float, bool, dict]:
    """Put the ant's torso at x-y `xy`, at rest, and take one step with idle motors."""
    u = env.unwrapped
    qpos = u.init_qpos.copy()
    qpos[:2] = xy
    u.set_state(qpos, np.zeros(u.model.nv))
    _, r, terminated, truncated, info = env.step(np.zeros(8, dtype=np.float32))
    assert not truncated
    return r, terminated, info


def test_waypoints_pay_once_each_in_order_then_end_the_episode():
    env = make_env("AntWaypoints-v0", seed=0)
    for _ in range(2):  # a second episode: reset starts again from the first waypoint
        env.reset(seed=0)
        assert _teleport_and_step(env, (0.0, 0.0))[:2] == (0.0, False)  # start is not a waypoint
        total = 0.0
        for i, wp in enumerate(WAYPOINTS):
            r, terminated, info = _teleport_and_step(env, np.add(wp, (0.2, -0.2)))
            total += r
            assert r == 1.0 and info["waypoint"] == i + 1
            assert terminated == (i == len(WAYPOINTS) - 1)
        assert total == 5.0 and info["success"]


def test_waypoint_observation_points_at_the_current_waypoint():
    env = make_env("AntWaypoints-v0", seed=0)
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs[-2:], np.subtract(WAYPOINTS[0], env.unwrapped.data.qpos[:2]))
    for i in range(2):
        u = env.unwrapped
        qpos = u.init_qpos.copy()
        qpos[:2] = WAYPOINTS[i]
        u.set_state(qpos, np.zeros(u.model.nv))
        obs, r, *_ = env.step(np.zeros(8, dtype=np.float32))
        # reached: the observation already points at the next one, from where the torso is
        assert r == 1.0
        np.testing.assert_allclose(obs[-2:], np.subtract(WAYPOINTS[i + 1], u.data.qpos[:2]))


def test_waypoints_out_of_order_or_too_far_pay_nothing():
    env = make_env("AntWaypoints-v0", seed=0)
    env.reset(seed=0)
    for xy in [WAYPOINTS[1], WAYPOINTS[2], (4.0, 0.7), (3.3, 0.0)]:
        r, terminated, info = _teleport_and_step(env, xy)
        assert (r, terminated, info["waypoint"]) == (0.0, False, 0)
    assert _teleport_and_step(env, WAYPOINTS[0])[0] == 1.0
    assert _teleport_and_step(env, WAYPOINTS[0])[0] == 0.0  # it now wants (4, 4)


def test_tasks_know_their_robot():
    assert robot_of("CheetahHurdle-v0") == "HalfCheetah-v5"
    assert robot_of("AntWaypoints-v0") == robot_of("AntLowGear-v0") == "AntLowGear"
    assert robot_of("PointMassGoal-v0") == "PointMass"
    assert make_env("AntWaypoints-v0").spec.max_episode_steps == 2000


@pytest.mark.parametrize("skills, task", [
    ("HalfCheetah-v5", "CheetahHurdle-v0"),
    ("AntLowGear-v0", "AntWaypoints-v0"),
    ("PointMass-v0", "PointMassGoalSparse-v0"),
])
def test_same_robot_passes(skills, task):
    check_same_robot(skills, task)


@pytest.mark.parametrize("skills, task, message", [
    ("Ant-v5", "AntWaypoints-v0", r"Ant-v5 \(robot Ant-v5\).*AntWaypoints-v0 \(robot AntLowGear\)"),
    ("PointMass-v0", "CheetahHurdle-v0", r"robot PointMass.*robot HalfCheetah-v5"),
    ("AntLowGear-v0", "CheetahHurdle-v0", r"robot AntLowGear.*robot HalfCheetah-v5"),
    # The task itself is among the envs offered, the robot's own first.
    ("PointMass-v0", "HalfCheetah-v5", r"on an env of that robot: HalfCheetah-v5, CheetahHurdle-v0, "
                                       r"HalfCheetahBackward-v0, HalfCheetahSparse-v0$"),
    ("Ant-v5", "AntLowGear-v0", r"on an env of that robot: AntLowGear-v0, AntWaypoints-v0$"),
])
def test_different_robots_are_refused_in_one_line(skills, task, message):
    with pytest.raises(RobotMismatchError, match=message) as e:
        check_same_robot(skills, task)
    assert "\n" not in str(e.value)


def test_robot_check_of_unknown_env():
    with pytest.raises(UnknownEnvError, match="NoSuchEnv-v0"):
        check_same_robot("NoSuchEnv-v0", "CheetahHurdle-v0")


def test_the_backward_cheetah_is_paid_for_running_backward():
    import numpy as np

    from envs.registry import make_env, robot_of

    fwd, bwd = make_env("HalfCheetah-v5", seed=0), make_env("HalfCheetahBackward-v0", seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (50, 6)).astype(np.float32)
    for a in actions:
        _, r_f, *_, info_f = fwd.step(a)
        _, r_b, *_, info_b = bwd.step(a)
        assert info_b["x_velocity"] == info_f["x_velocity"]  # the same robot, the same motion
        assert info_b["reward_forward"] == -info_f["reward_forward"]
        assert abs(r_f + r_b - 2 * info_f["reward_ctrl"]) < 1e-9  # both pay the same control cost
    assert robot_of("HalfCheetahBackward-v0") == "HalfCheetah-v5"  # HalfCheetah skills reuse on it


def test_the_sparse_cheetah_pays_one_a_step_beyond_5_m_and_nothing_before():
    env = make_env("HalfCheetahSparse-v0", seed=0)
    u = env.unwrapped
    assert robot_of("HalfCheetahSparse-v0") == "HalfCheetah-v5"

    def step_at(x):
        qpos = u.data.qpos.copy()
        qpos[0] = x
        u.set_state(qpos, np.zeros_like(u.data.qvel))
        return env.step(np.zeros(6, np.float32))

    # A random episode's opening steps: near the origin, nothing paid.
    assert all(env.step(env.action_space.sample())[1] == 0.0 for _ in range(20))
    for x, paid in [(4.8, 0.0), (5.2, 1.0), (12.0, 1.0), (-8.0, 0.0)]:
        obs, r, terminated, _, info = step_at(x)
        assert r == paid and not terminated
        assert obs[-1] == pytest.approx(u.data.qpos[0]) and abs(obs[-1] - x) < 0.05
        assert not any(k.startswith("reward_") for k in info)
    # The furthest x of the episode, for evaluations: 12 m, not where it is now.
    assert info[EPISODE_METRICS]["furthest_x"] == pytest.approx(12.0, abs=0.05)
    env.reset(seed=1)
    assert abs(u.furthest_x) < 0.2
