"""Skills turned about the vertical (skills/symmetry.py): the observation map is checked against
MuJoCo itself, by simulating the Ant turned, and RotatedSkills against its base skills."""

import mujoco
import numpy as np
import pytest

from envs.registry import make_env
from skills.symmetry import RotatedSkills, rotate_ant_obs, rotate_xy, yaw_quaternion_product


def test_rotate_xy_by_hand():
    v = np.array([[1.0, 2.0]])
    np.testing.assert_allclose(rotate_xy(v, 1), [[-2.0, 1.0]])
    np.testing.assert_allclose(rotate_xy(v, 2), [[-1.0, -2.0]])
    np.testing.assert_allclose(rotate_xy(v, -1), [[2.0, -1.0]])  # = 3 quarter turns


def test_yaw_quaternion_turns_heading():
    # Upright, heading 30 degrees: q = (cos 15, 0, 0, sin 15); a quarter turn makes it 120.
    q = np.array([np.cos(np.pi / 12), 0, 0, np.sin(np.pi / 12)])
    half = np.radians(120) / 2
    np.testing.assert_allclose(yaw_quaternion_product(q, 1), [np.cos(half), 0, 0, np.sin(half)],
                               atol=1e-12)
    # Four quarter turns are the identity, sign included (w >= 0 is kept).
    np.testing.assert_allclose(yaw_quaternion_product(q, 4), q, atol=1e-12)
    assert yaw_quaternion_product(q, 2)[0] >= 0


def _turned_state(qpos, qvel, quarter_turns):
    """The Ant's state with the whole robot turned about the world's z through the origin."""
    qpos, qvel = qpos.copy(), qvel.copy()
    qpos[:2] = rotate_xy(qpos[:2], quarter_turns)
    angle = np.pi / 2 * quarter_turns
    r = np.array([np.cos(angle / 2), 0, 0, np.sin(angle / 2)])
    turned = np.zeros(4)
    mujoco.mju_mulQuat(turned, r, qpos[3:7].copy())  # MuJoCo's own product, not ours
    qpos[3:7] = turned
    qvel[:2] = rotate_xy(qvel[:2], quarter_turns)  # linear velocity: world frame
    return qpos, qvel  # angular velocity (the torso's frame) and joints do not change


def _canonical(obs):
    out = obs.copy()
    out[1:5] = yaw_quaternion_product(obs[1:5], 0)
    return out


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_rotated_obs_is_what_mujoco_simulates_for_the_turned_ant(quarter_turns):
    """Step the Ant and a copy turned by quarter_turns with the same actions: the copy's
    observation, with contact forces, is rotate_ant_obs of the original's, step after step."""
    a, b = make_env("AntLowGear-v0"), make_env("AntLowGear-v0")
    rng = np.random.default_rng(0)
    a.reset(seed=0)
    b.reset(seed=0)
    for _ in range(30):  # walk away from the rest pose, so that the legs touch the floor
        a.step(rng.uniform(-1, 1, 8))
    ua, ub = a.unwrapped, b.unwrapped
    ub.set_state(*_turned_state(ua.data.qpos, ua.data.qvel, quarter_turns))
    worst = touched = 0.0
    for _ in range(40):
        action = rng.uniform(-1, 1, 8)
        oa, *_ = a.step(action)
        ob, *_ = b.step(action)
        touched = max(touched, np.abs(oa[27:]).max())
        worst = max(worst, np.abs(_canonical(ob) - rotate_ant_obs(oa, quarter_turns)).max())
    assert touched > 0.1  # feet on the floor: the contact forces were in play
    assert worst < 1e-6


def test_rotate_ant_obs_round_trip_and_shape_error():
    obs = np.random.default_rng(1).uniform(-1, 1, 105)
    obs[1:5] = yaw_quaternion_product(obs[1:5] / np.linalg.norm(obs[1:5]), 0)
    np.testing.assert_allclose(rotate_ant_obs(rotate_ant_obs(obs, 1), -1), obs, atol=1e-12)
    with pytest.raises(ValueError, match="105-entry"):
        rotate_ant_obs(np.zeros(27), 1)


class _Recorder:
    """A stand-in skill set that records what it was shown."""

    n_skills, env_name = 3, "AntLowGear-v0"

    def __init__(self):
        self.seen = []

    def act(self, obs, z, deterministic=True):
        self.seen.append((obs.copy(), z))
        return np.full(8, float(z))

    def observed_feature(self, env):
        return None


def test_rotated_skills_index_and_feed_turned_obs():
    base = _Recorder()
    lib = RotatedSkills(base, 4)
    assert lib.n_skills == 12
    assert lib.split(7) == (1, 2)  # skill 1, two quarter turns
    obs = np.random.default_rng(2).uniform(-1, 1, 105)
    np.testing.assert_array_equal(lib.act(obs, 7), np.full(8, 1.0))
    shown, z = base.seen[-1]
    assert z == 1
    np.testing.assert_allclose(shown, rotate_ant_obs(obs, -2))
    lib.act(obs, 2)  # no turn: the observation as it is
    np.testing.assert_array_equal(base.seen[-1][0], obs)
    assert RotatedSkills(base, 2).split(4) == (1, 2)  # half turns: two quarter turns each
    with pytest.raises(ValueError, match="skills 0..11"):
        lib.act(obs, 12)


def test_rotated_skills_refuse_other_robots():
    base = _Recorder()
    base.env_name = "HalfCheetah-v5"
    with pytest.raises(ValueError, match="defined for the Ant"):
        RotatedSkills(base, 4)
    assert RotatedSkills(base, 1).n_skills == 3


def test_an_appended_xy_turns_about_the_origin_with_the_robot():
    """Skills that see the torso's x-y after Ant-v5's 105 entries: the turn of the 107 is the
    turn of the 105 and the position turned by the same quarter turns about the origin."""
    obs = np.random.default_rng(3).uniform(-1, 1, 107)
    for turns in range(4):
        out = rotate_ant_obs(obs, turns)
        np.testing.assert_allclose(out[:105], rotate_ant_obs(obs[:105], turns))
        np.testing.assert_allclose(out[105:], rotate_xy(obs[105:], turns))
    np.testing.assert_allclose(rotate_ant_obs(obs, 1)[105:], [-obs[106], obs[105]])
