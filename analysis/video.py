"""Headless videos of skills and policies, rendered with MuJoCo's own renderer.

MuJoCo picks its GL backend when it is imported: `select_gl_backend()` must run first. It keeps
a MUJOCO_GL the user set, else takes EGL and falls back to OSMesa, probing each in a subprocess
(a failed GL context can abort the process). Shadows and reflections are switched off: they are
what software rendering pays for (about 10x fewer frames per second with them).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

_PROBE = "import mujoco; c = mujoco.GLContext(8, 8); c.make_current(); c.free()"


class RenderingUnavailable(RuntimeError):
    pass


def select_gl_backend() -> str:
    """The headless GL backend MuJoCo will use; sets MUJOCO_GL if it was unset."""
    if os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]
    for backend in ("egl", "osmesa"):
        env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
        probe = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=60)
        if probe.returncode == 0:
            os.environ["MUJOCO_GL"] = backend
            return backend
    raise RenderingUnavailable(
        "no headless OpenGL for MuJoCo: install Mesa's EGL (apt-get install libegl1 libgl1-mesa-dri) "
        "or OSMesa (apt-get install libosmesa6), then set MUJOCO_GL=egl or MUJOCO_GL=osmesa")


def check_rendering() -> None:
    """Raise RenderingUnavailable with what to install when MuJoCo cannot render here."""
    backend = select_gl_backend()
    env = dict(os.environ, PYOPENGL_PLATFORM=backend)
    probe = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=60)
    if probe.returncode != 0:
        raise RenderingUnavailable(
            f"MUJOCO_GL={backend} cannot create a GL context here; install Mesa's EGL "
            "(apt-get install libegl1 libgl1-mesa-dri) or OSMesa (apt-get install libosmesa6)")


def fast_render_settings(env) -> None:
    """No shadows, no reflections: the costly parts of software rendering."""
    model = env.unwrapped.model
    model.light_castshadow[:] = 0
    model.mat_reflectance[:] = 0


def extend_floor(model, half_size: float = 1000.0) -> None:
    """Render the world's floor planes `half_size` metres out each way, the checkers kept their
    size. Gymnasium's floors are drawn 20-40 m out, and a fast skill leaves them within an
    episode (a HalfCheetah skill runs ~190 m): it would be filmed over an empty background.
    Planes collide as infinite whatever their size, so the rollout is the same."""
    import mujoco

    floors = (model.geom_type == mujoco.mjtGeom.mjGEOM_PLANE) & (model.geom_bodyid == 0)
    for g in np.flatnonzero(floors):
        extent = model.geom_size[g, :2].max()
        if extent <= 0 or extent >= half_size:  # already drawn infinite or far enough
            continue
        scale = half_size / extent
        model.geom_size[g] *= scale  # the third size, the drawing grid's spacing, too
        mat = model.geom_matid[g]
        if mat >= 0 and not model.mat_texuniform[mat]:  # a repeat per plane, not per metre
            model.mat_texrepeat[mat] *= scale


class FollowRobot(gym.Wrapper):
    """Points the free camera at the robot's torso before each frame. Gymnasium's robots render
    with a free camera that stays where the episode started, so a running cheetah leaves the
    picture; envs with a fixed camera of their own (PointMass's top view) are left alone."""

    @property
    def follows(self) -> bool:
        """Whether the env films with the free camera (no fixed camera of its own)."""
        return self.env.unwrapped.mujoco_renderer.camera_id in (None, -1)

    def render(self):
        if self.follows:
            viewer = self.env.unwrapped.mujoco_renderer._get_viewer(self.env.unwrapped.render_mode)
            viewer.cam.lookat[:2] = self.env.unwrapped.data.xpos[1][:2]
        return self.env.render()


def video_env(make, size: int):
    """A rendering env from `make(render_mode=..., width=..., height=...)`, fast and following
    the robot."""
    env = FollowRobot(make(render_mode="rgb_array", width=size, height=size))
    fast_render_settings(env)
    if env.follows:  # the robot may run off the floor Gymnasium draws
        extend_floor(env.unwrapped.model)
    return env


class Filmed(gym.Wrapper):
    """Keeps a frame after the env's reset and after each of its steps, in `frames`: a
    hierarchy's SkillEnv runs k steps of its task per choice and renders only the last."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.frames: list[np.ndarray] = []

    def reset(self, **kwargs):
        out = self.env.reset(**kwargs)
        self.frames.append(self.env.render())
        return out

    def step(self, action):
        out = self.env.step(action)
        self.frames.append(self.env.render())
        return out


def label(frame: np.ndarray, text: str) -> np.ndarray:
    """`frame` with `text` in its top-left corner."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 8 + 7 * len(text), 16), fill=(255, 255, 255))
    draw.text((4, 2), text, fill=(0, 0, 0))
    return np.asarray(img)


def tile(videos: list[list[np.ndarray]], labels: list[str]) -> list[np.ndarray]:
    """One video with the given videos tiled in a near-square grid, each labelled; shorter ones
    hold their last frame (an episode that ended early stays visible)."""
    n = len(videos)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w, c = videos[0][0].shape
    length = max(len(v) for v in videos)
    out = []
    for t in range(length):
        canvas = np.full((rows * h, cols * w, c), 255, dtype=np.uint8)
        for i, (video, text) in enumerate(zip(videos, labels)):
            r, col = divmod(i, cols)
            canvas[r * h:(r + 1) * h, col * w:(col + 1) * w] = label(video[min(t, len(video) - 1)], text)
        out.append(canvas)
    return out


def write_video(frames: list[np.ndarray], path: str | Path, fps: int) -> Path:
    """mp4 (H.264 through imageio-ffmpeg) or gif, by the path's suffix."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)
    else:
        # macro_block_size=1 keeps odd sizes as they are instead of resizing with a warning
        imageio.mimsave(path, frames, fps=fps, macro_block_size=1)
    return path


def skill_videos(library, out_dir: str | Path, steps: int | None = None, size: int = 240,
                 seed: int = 0, fmt: str = "mp4") -> tuple[list[Path], Path]:
    """One video per skill (`skill_<i>.mp4`, the i-th of `library.shown_skills()`: z = i for
    discrete skills) and one grid of all of them (`skills_grid.mp4`)."""
    from skills.evaluate import skill_label

    select_gl_backend()
    out_dir = Path(out_dir)
    env = video_env(library.make_env, size)
    fps = int(env.metadata.get("render_fps", 30))
    videos, paths = [], []
    skills = library.shown_skills()
    for i, z in enumerate(skills):
        frames: list[np.ndarray] = []
        library.rollout(z, steps=steps, env=env, seed=seed, frames=frames)
        videos.append(frames)
        paths.append(write_video(frames, out_dir / f"skill_{i}.{fmt}", fps))
    grid = write_video(tile(videos, [skill_label(z) for z in skills]),
                       out_dir / f"skills_grid.{fmt}", fps)
    env.close()
    return paths, grid


def policy_video(env, policy, path: str | Path, steps: int | None = None, seed: int = 0) -> Path:
    """A video of one episode (or `steps` steps) of `policy(obs) -> action` on a rendering env
    (from `video_env`)."""
    obs, _ = env.reset(seed=seed)
    frames = [env.render()]
    t = 0
    while steps is None or t < steps:
        obs, _, terminated, truncated, _ = env.step(policy(obs.astype(np.float32)))
        frames.append(env.render())
        t += 1
        if terminated or truncated:
            break
    return write_video(frames, path, int(env.metadata.get("render_fps", 30)))


def controller_video(env, controller, path: str | Path, steps: int | None = None, seed: int = 0
                     ) -> tuple[Path, list, dict[str, float]]:
    """A video of one episode (or its first `steps` robot steps) of a hierarchy: `controller(obs)
    -> z` picks the skills of `env`, a SkillEnv over a `Filmed` rendering env of the task. Every
    robot step is a frame, labelled with the skill running. Also returns the skills chosen, in
    order, and what the episode did: its return, robot steps and the task's episode metrics."""
    from agents.loop import EPISODE_METRICS, ROBOT_STEPS, UNDISCOUNTED_REWARD
    from skills.evaluate import skill_label

    filmed = env.task_env
    filmed.frames.clear()
    obs, _ = env.reset(seed=seed)
    frames = list(filmed.frames)
    choices: list = []
    summary: dict[str, float] = {"return": 0.0, "robot_steps": 0}
    while steps is None or len(frames) <= steps:
        z = controller(obs.astype(np.float32))
        filmed.frames.clear()
        obs, reward, terminated, truncated, info = env.step(z)
        # The skill that ran: a choice may also carry its duration (SkillEnv's durations).
        z = info.get("skill", z)
        frames += [label(f, skill_label(z)) for f in filmed.frames]
        choices.append(z)
        summary["return"] += float(info.get(UNDISCOUNTED_REWARD, reward))
        summary["robot_steps"] += int(info.get(ROBOT_STEPS, 1))
        if terminated or truncated:
            summary.update(info.get(EPISODE_METRICS, {}))
            break
    fps = int(filmed.metadata.get("render_fps", 30))
    return write_video(frames[:None if steps is None else steps + 1], path, fps), choices, summary
