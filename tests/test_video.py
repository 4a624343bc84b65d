"""Videos: a k-step rollout has k + 1 frames of the asked size; the grid has a tile per skill."""

import imageio.v3 as iio
import numpy as np
import pytest

from analysis.video import (
    policy_video,
    skill_videos,
    tile,
    video_env,
)
from run import main


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from skills.library import SkillLibrary

    d = tmp_path_factory.mktemp("skills")
    assert main(["pretrain", "--skills", "3", "--total-steps", "200", "--learning-starts", "100",
                 "--hidden", "16", "--disc-hidden", "16", "--batch-size", "16", "--run-dir", str(d),
                 "--no-progress"]) == 0
    return SkillLibrary.load(d)


def test_skill_videos_have_one_frame_per_state(rendering, library, tmp_path):
    paths, grid = skill_videos(library, tmp_path, steps=12, size=64)
    assert [p.name for p in paths] == ["skill_0.mp4", "skill_1.mp4", "skill_2.mp4"]
    for p in paths:
        frames = iio.imread(p)
        assert frames.shape == (13, 64, 64, 3)  # 12 steps + the initial state
        assert frames.std() > 0  # not a blank image
    frames = iio.imread(grid)
    assert frames.shape == (13, 128, 128, 3)  # 3 skills in a 2 x 2 grid


def test_frames_are_those_of_the_rollout(rendering, library):
    env = library.make_env(render_mode="rgb_array", width=32, height=32)
    frames = []
    roll = library.rollout(0, steps=5, env=env, seed=3, frames=frames)
    assert len(frames) == len(roll.states) == 6
    # replaying the same seeded rollout renders the same first and last frames
    again = []
    library.rollout(0, steps=5, env=env, seed=3, frames=again)
    np.testing.assert_array_equal(frames[0], again[0])
    np.testing.assert_array_equal(frames[-1], again[-1])
    assert not np.array_equal(frames[0], frames[-1])  # the ball moved


def test_gif_and_policy_video(rendering, library, tmp_path):
    env = video_env(library.make_env, 48)
    path = policy_video(env, lambda obs: library.act(obs, 1), tmp_path / "policy.gif", steps=7)
    assert iio.imread(path).shape[0] == 8


def test_tile_puts_each_video_in_its_own_labelled_cell():
    videos = [[np.full((20, 30, 3), 10 * (i + 1), np.uint8)] * (i + 1) for i in range(5)]
    out = tile(videos, [f"z={i}" for i in range(5)])
    assert len(out) == 5  # the longest video; shorter ones hold their last frame
    frame = out[-1]
    assert frame.shape == (2 * 20, 3 * 30, 3)  # 5 tiles in a 2 x 3 grid
    for i in range(5):
        r, c = divmod(i, 3)
        cell = frame[r * 20:(r + 1) * 20, c * 30:(c + 1) * 30]
        assert cell[-1, -1, 0] == 10 * (i + 1)  # the video's pixels, away from the label
        assert (cell[:10, :10] != 10 * (i + 1)).any()  # the label
    assert (frame[20:, 60:] == 255).all()  # the sixth cell stays empty


def test_camera_follows_a_running_robot(rendering):
    from envs.registry import make_env

    env = video_env(lambda **kw: make_env("HalfCheetah-v5", **kw), 64)
    env.reset(seed=0)
    first = env.render()
    env.unwrapped.data.qpos[0] += 20.0  # carry the cheetah 20 m down the track
    import mujoco

    mujoco.mj_forward(env.unwrapped.model, env.unwrapped.data)
    moved = env.render()
    # the robot is still in the picture: the frame looks like the first, not like empty floor
    # (a camera left behind shows empty floor: a mean difference of about 3 at this size)
    assert np.abs(moved.astype(float) - first.astype(float)).mean() < 0.5


def test_the_floor_is_drawn_where_a_fast_skill_runs_and_the_rollout_is_unchanged(rendering):
    import mujoco

    from envs.registry import make_env

    env = video_env(lambda **kw: make_env("HalfCheetah-v5", **kw), 64)
    env.reset(seed=0)
    first = env.render()
    # 120 m down the track (a whole number of checker periods: 80 m of floor, 60 repeats), past
    # the 40 m that Gymnasium draws: the picture is the first one, not the robot over a void.
    env.unwrapped.data.qpos[0] += 120.0
    mujoco.mj_forward(env.unwrapped.model, env.unwrapped.data)
    assert np.abs(env.render().astype(float) - first.astype(float)).mean() < 0.5
    # the floor collides as before: the same actions give the same states as on a plain env
    plain = make_env("HalfCheetah-v5")
    rng = np.random.default_rng(0)
    env.reset(seed=1), plain.reset(seed=1)
    for a in rng.uniform(-1, 1, (200, 6)):
        obs, *_ = env.step(a)
        plain_obs, *_ = plain.step(a)
    np.testing.assert_array_equal(obs, plain_obs)
