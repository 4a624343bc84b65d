"""PointMass: a 2-D MuJoCo point mass in a walled arena, where skills appear in a minute.

Observation (x, y, vx, vy); action a 2-D force in [-1, 1]^2; 100-step episodes (10 s). The
plain env has no reward (skills are learned without one); with a goal it is a reaching task,
dense (minus the distance) or sparse (+1 and the episode ends within `goal_radius`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco import MujocoEnv

XML = str(Path(__file__).with_name("assets") / "point_mass.xml")
ARENA_HALF_WIDTH = 4.0


class PointMassEnv(MujocoEnv):
    metadata = {"render_modes": ["human", "rgb_array", "depth_array", "rgbd_tuple"], "render_fps": 10}

    def __init__(
        self,
        goal: tuple[float, float] | None = None,
        goal_radius: float = 0.5,
        sparse: bool = False,
        reset_noise: float = 0.1,
        render_mode: str | None = None,
        width: int = 240,
        height: int = 240,
    ):
        obs_space = spaces.Box(-np.inf, np.inf, (4,), np.float64)
        super().__init__(XML, frame_skip=5, observation_space=obs_space, render_mode=render_mode,
                         width=width, height=height, camera_name="top")
        self.metadata["render_fps"] = int(round(1.0 / self.dt))
        self.goal = None if goal is None else np.asarray(goal, dtype=np.float64)
        self.goal_radius = goal_radius
        self.sparse = sparse
        self.reset_noise = reset_noise
        site = self.model.site("goal")
        if self.goal is None:
            self.model.site_rgba[site.id, 3] = 0.0  # no goal to show
        else:
            self.model.site_pos[site.id, :2] = self.goal
            self.model.site_size[site.id, 0] = goal_radius

    @property
    def xy(self) -> np.ndarray:
        return self.data.qpos[:2].copy()

    def _get_obs(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[:2], self.data.qvel[:2]])

    def step(self, action):
        self.do_simulation(np.asarray(action, dtype=np.float64), self.frame_skip)
        obs = self._get_obs()
        reward, terminated, info = 0.0, False, {"xy": obs[:2].copy()}
        if self.goal is not None:
            dist = float(np.linalg.norm(obs[:2] - self.goal))
            reached = dist <= self.goal_radius
            reward = float(reached) if self.sparse else -dist
            terminated = bool(reached and self.sparse)
            info.update(distance=dist, success=reached)
        if self.render_mode == "human":
            self.render()
        return obs, reward, terminated, False, info

    def reset_model(self) -> np.ndarray:
        n = self.reset_noise
        qpos = self.init_qpos + self.np_random.uniform(-n, n, size=self.model.nq)
        qvel = self.init_qvel + self.np_random.uniform(-n, n, size=self.model.nv)
        self.set_state(qpos, qvel)
        return self._get_obs()
