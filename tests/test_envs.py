import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.registry import (
    UnknownEnvError,
    UnknownFeatureError,
    env_features,
    env_names,
    make_env,
    state_feature,
)


@pytest.mark.parametrize("name", ["PointMass-v0", "PointMassGoal-v0", "PointMassGoalSparse-v0"])
def test_project_envs_pass_check_env(name):
    check_env(make_env(name).unwrapped, skip_render_check=True)


def test_unknown_env_lists_valid_names():
    with pytest.raises(UnknownEnvError, match="HalfCheetah-v5.*PointMass-v0") as e:
        make_env("NoSuchEnv-v0")
    assert "did you mean" not in str(e.value)  # nothing is close to it


@pytest.mark.parametrize("typed, meant", [
    ("halfcheetah-v5", "HalfCheetah-v5"), ("Hopper", "Hopper-v5"), ("HalfCheetah-v4", "HalfCheetah-v5"),
    ("pointmass-v0", "PointMass-v0")])
def test_a_near_miss_of_an_env_name_is_told_the_name_it_meant(typed, meant):
    with pytest.raises(UnknownEnvError) as e:
        make_env(typed)
    assert str(e.value).startswith(f"unknown env '{typed}' (did you mean '{meant}'?); valid names: Ant-v5")


def test_point_mass_moves_with_force_and_exposes_xy():
    env = make_env("PointMass-v0", seed=0)
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        obs, r, term, trunc, _ = env.step(np.array([1.0, -1.0]))
    assert obs[0] > 1.0 and obs[1] < -1.0 and r == 0.0
    np.testing.assert_allclose(env_features(env)["xy"](), obs[:2], rtol=1e-6)


def test_point_mass_episode_is_truncated_at_100_steps():
    env = make_env("PointMass-v0", seed=0)
    env.reset(seed=0)
    for _ in range(100):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        assert not term
    assert trunc


def test_sparse_goal_terminates_with_reward():
    env = make_env("PointMassGoalSparse-v0", seed=0)
    env.reset(seed=0)
    done, total = False, 0.0
    for _ in range(100):
        _, r, term, trunc, info = env.step(np.array([1.0, 1.0]))  # straight at (2.5, 2.5)
        total += r
        if term or trunc:
            done = term
            break
    assert done and total == 1.0 and info["success"]


def test_robot_features_follow_the_simulator():
    env = make_env("HalfCheetah-v5", seed=0)
    assert set(env_features(env)) == {"x", "vx", "com_vx"}
    assert {"xy", "vxy", "com_vxy"} <= set(env_features(make_env("Ant-v5", seed=0)))


def test_features_join_with_commas():
    env = make_env("Ant-v5", seed=0)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    data = env.unwrapped.data
    np.testing.assert_allclose(state_feature(env, "x,vxy")(),
                               [data.qpos[0], data.qvel[0], data.qvel[1]], rtol=1e-6)
    assert state_feature(env, None) is None
    with pytest.raises(UnknownFeatureError, match="no feature 'z'; it exposes: x, xy, vx, vxy, heading"):
        state_feature(env, "xy,z")


def test_heading_is_the_direction_of_travel():
    # Worked by hand: a torso moving at (3, -4) m/s heads (0.6, -0.8); one at rest has no heading.
    env = make_env("Ant-v5", seed=0)
    env.reset(seed=0)
    heading, data = state_feature(env, "heading"), env.unwrapped.data
    data.qvel[:2] = (3.0, -4.0)
    np.testing.assert_allclose(heading(), [0.6, -0.8], rtol=1e-6)
    assert heading().dtype == np.float32
    data.qvel[:2] = 0.0
    np.testing.assert_array_equal(heading(), [0.0, 0.0])
    assert "heading" not in env_features(make_env("HalfCheetah-v5", seed=0))


@pytest.mark.parametrize("name", ["HalfCheetah-v5", "Ant-v5"])
def test_velocity_feature_integrates_to_the_position(name):
    # Independent of how the simulator stores velocities: summing vx * dt along a rollout must
    # retrace the torso's x (up to the integrator's error within each frame of 5 substeps).
    env = make_env(name, seed=0)
    env.reset(seed=0)
    feats, dt = env_features(env), env.unwrapped.dt
    x0, xs, vs = feats["x"]()[0], [], []
    for _ in range(300):
        env.step(env.action_space.sample())
        xs.append(feats["x"]()[0] - x0)
        vs.append(feats["vx"]()[0])
    xs, path = np.array(xs), np.cumsum(vs) * dt
    assert np.ptp(xs) > 0.5  # the torso moved, so a wrong velocity would not retrace it
    np.testing.assert_allclose(path, xs, atol=0.15)


@pytest.mark.parametrize("name", ["HalfCheetah-v5", "Ant-v5"])
def test_centre_of_mass_velocity_integrates_to_its_position(name):
    # The centre of mass computed by hand, sum_i m_i x_i / sum_i m_i over the bodies' own centres
    # of mass from a fresh forward kinematics of qpos, must be retraced by summing com_vx * dt.
    import mujoco

    env = make_env(name, seed=0)
    env.reset(seed=0)
    model, data = env.unwrapped.model, env.unwrapped.data
    scratch, mass = mujoco.MjData(model), model.body_mass

    def com_x() -> float:
        scratch.qpos[:] = data.qpos
        mujoco.mj_kinematics(model, scratch)
        return float(mass @ scratch.xipos[:, 0] / mass.sum())

    com_vx, x0, xs, vs = env_features(env)["com_vx"], com_x(), [], []
    for _ in range(300):
        env.step(env.action_space.sample())
        xs.append(com_x() - x0)
        vs.append(com_vx()[0])
    xs, path = np.array(xs), np.cumsum(vs) * env.unwrapped.dt
    assert np.ptp(xs) > 0.5
    np.testing.assert_allclose(path, xs, atol=0.15)
    assert com_vx().dtype == np.float32


def test_actions_rescaled_to_unit_box():
    env = make_env("Pendulum-v1", seed=0)
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    assert "Pendulum-v1" in env_names()


def test_half_cheetahs_deprecated_settotalmass_is_not_printed_and_other_warnings_are(capfd):
    import mujoco

    from envs.registry import quiet_model_warnings

    make_env("HalfCheetah-v5")
    make_env("CheetahHurdle-v0")  # an MjSpec compiled by the project
    assert "settotalmass" not in capfd.readouterr().err
    with quiet_model_warnings():
        mujoco.get_mju_user_warning()("some other MuJoCo warning")
    assert "WARNING: some other MuJoCo warning" in capfd.readouterr().err
    assert mujoco.get_mju_user_warning() is None  # MuJoCo's own handler is back


def _turn_over(env) -> None:
    data = env.unwrapped.data
    data.qpos[2] = 0.3  # lying height
    data.qpos[3:7] = [0.0, 1.0, 0.0, 0.0]  # half a turn about x: the up axis points down


def test_an_ant_on_its_back_ends_the_episode_only_when_asked():
    for flipped, ends in ((True, True), (False, False)):
        env = make_env("Ant-v5", seed=0, terminate_when_flipped=flipped)
        env.reset(seed=0)
        for _ in range(20):  # upright, standing still: goes on
            assert not env.step(np.zeros(8, dtype=np.float32))[2]
        _turn_over(env)
        # Ant-v5's own health test is the torso's height, which lying on its back passes.
        assert env.step(np.zeros(8, dtype=np.float32))[2] == ends


def test_turning_over_needs_a_free_floating_torso(tmp_path, capsys):
    import json

    from envs.registry import UnknownEnvError
    from run import main

    with pytest.raises(UnknownEnvError, match="no free-floating torso"):
        make_env("HalfCheetah-v5", terminate_when_flipped=True)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"env": "Hopper-v5", "env_options": {"terminate_when_flipped": True}}))
    code = main(["pretrain", "--config", str(config), "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "terminate_when_flipped is for Ant and Humanoid" in err[0], err
