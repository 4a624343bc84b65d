"""MultiGoal: the 2-D point of Haarnoja et al. 2017 (1702.08165, Sec. 5.1, Fig. 1), four goals
around a start at the origin, where a maximum-entropy policy should keep all four in play.

State: the position (x, y). Action: a velocity in [-1, 1]^2, and s' = s + a (the paper's code:
point dynamics without noise, actions bound 1, positions kept in [-7, 7]^2). Reward
r = -30 |a|^2 - (distance to the nearest goal), plus 10 and the end of the episode within
radius 1 of a goal at (+-5, 0) or (0, +-5). Episodes are 30 steps long (the registry's time
limit). The action cost makes a slow walk the optimum, so any of the four goals is worth
about the same: a policy that can represent several modes reaches all four.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

GOALS = np.array([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
GOAL_RADIUS = 1.0
GOAL_REWARD = 10.0
ACTION_COST = 30.0
DISTANCE_COST = 1.0
BOUND = 7.0


class _PointState:
    """The position and velocity under the names MuJoCo's MjData gives them, qpos and qvel,
    updated in place. envs.registry.env_features reads `env.unwrapped.data.qpos[:2]` (and qvel)
    for an "xy" env: mirroring those two arrays gives this env the x-y features without a
    special case in the registry."""

    def __init__(self):
        self.qpos = np.zeros(2)
        self.qvel = np.zeros(2)


def nearest_goal(xy: np.ndarray) -> tuple[int, float]:
    """Index of the goal nearest to `xy` and its distance."""
    dist = np.linalg.norm(GOALS - xy, axis=-1)
    i = int(np.argmin(dist))
    return i, float(dist[i])


def multigoal_reward(xy: np.ndarray, action: np.ndarray) -> tuple[float, bool]:
    """r(s', a) and whether s' is within a goal's radius (1702.08165 Sec. 5.1: an action cost,
    a distance cost to the nearest goal, a bonus at a goal)."""
    _, dist = nearest_goal(xy)
    reached = dist <= GOAL_RADIUS
    reward = -ACTION_COST * float(np.dot(action, action)) - DISTANCE_COST * dist
    return reward + GOAL_REWARD * reached, reached


class MultiGoalEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, reset_noise: float = 0.0, render_mode: str | None = None):
        self.observation_space = spaces.Box(-BOUND, BOUND, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.reset_noise = reset_noise
        self.render_mode = render_mode
        self.data = _PointState()

    @property
    def xy(self) -> np.ndarray:
        return self.data.qpos.copy()

    def _obs(self) -> np.ndarray:
        return self.data.qpos.astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # The paper starts every episode at the origin; noise is an option, off by default.
        self.data.qpos[:] = self.np_random.normal(0.0, self.reset_noise, 2) if self.reset_noise else 0.0
        self.data.qvel[:] = 0.0
        return self._obs(), {}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self.data.qpos[:] = np.clip(self.data.qpos + a, -BOUND, BOUND)
        self.data.qvel[:] = a
        reward, reached = multigoal_reward(self.data.qpos, a)
        goal, dist = nearest_goal(self.data.qpos)
        info = {"xy": self.xy, "distance": dist, "success": reached, "goal": goal if reached else -1}
        return self._obs(), reward, reached, False, info


def rollouts(env: gym.Env, act: Callable[[np.ndarray], np.ndarray], episodes: int
             ) -> tuple[list[np.ndarray], np.ndarray]:
    """`episodes` episodes of `act` in `env` (a MultiGoal, as make_env builds it): each path of
    positions from the start, and the index of the goal each episode reached (-1: none)."""
    paths, goals = [], np.full(episodes, -1)
    for i in range(episodes):
        obs, _ = env.reset()
        path, done = [obs], False
        while not done:
            obs, _, terminated, truncated, info = env.step(act(obs))
            path.append(obs)
            done = terminated or truncated
        paths.append(np.stack(path))
        goals[i] = info["goal"]
    return paths, goals
