"""Downstream tasks of the DIAYN paper (Eysenbach et al. 2018, arXiv 1802.06070, Sec. 4.2.2 and
Appendix): skills pretrained without reward are reused on these, by a meta-controller that picks
a skill every k steps (envs/skill_env.py) or by fine-tuning the best skill.

- `CheetahHurdle-v0`: HalfCheetah-v5 with fixed box hurdles (0.25 m high, 0.1 m wide) every
  3 m from x = -1 m to 59 m; reward = forward progress (x-velocity), no control cost; the
  observation adds how far the next hurdle is, the episode's `hurdles_passed` is in the info.
- `HalfCheetahSparse-v0`: HalfCheetah-v5 paid 1 a step only beyond 5 m ahead of the origin: the
  sparse MuJoCo task of the exploration claim (benchmarks/claims.py).
- `AntLowGear-v0`: Ant-v5 with actuator gear 30 instead of 150 (the paper's "lower gear ratio"
  Ant), so skills are pretrained on the very robot that the waypoint task uses.
- `AntWaypoints-v0`: AntLowGear visiting 5 waypoints of a 4 m square in order, +1 per waypoint.

Every task starts its observation with its robot's (17 entries for the cheetah, 105 for the ant),
so pretrained skills run on it unchanged; a task may append entries of its own after them
(`robot_obs_dim` says where the robot's end): AntWaypoints gives the current waypoint relative to
the torso, CheetahHurdle the next hurdle's distance ahead of the back foot, which the robots'
observations would not tell a controller. The models are Gymnasium's
own XML, edited with `mujoco.MjSpec` when the env builds, so they never drift from the robots
the skills were pretrained on. They are registered (make_env names, robots, position features)
in envs/registry.py.
"""

from __future__ import annotations

import mujoco
import numpy as np
from gymnasium import spaces, utils
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from agents.loop import EPISODE_METRICS
from envs.registry import quiet_model_warnings

# Hurdles of the paper's cheetah task: boxes 0.25 m high, 0.1 m wide (along x), every 3 m.
HURDLE_HEIGHT, HURDLE_WIDTH, HURDLE_SPACING, FIRST_HURDLE_X = 0.25, 0.1, 3.0, -1.0
N_HURDLES = 21  # x = -1, 2, ..., 59: covers x in [-1, 60]
# Start at the origin, go once round the 4 m square, then one more side: 20 m of walking.
WAYPOINTS = ((4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 0.0), (4.0, 0.0))
SPARSE_GOAL_X = 5.0  # metres ahead of the origin where CheetahSparse starts paying
LOW_GEAR = 30.0  # the DIAYN paper's Ant gear ratio; Gymnasium's Ant-v5 uses 150


def _compile(spec: mujoco.MjSpec, width: int, height: int) -> tuple[mujoco.MjModel, mujoco.MjData]:
    """Compile an edited Gymnasium model as MujocoEnv._initialize_simulation would load it."""
    with quiet_model_warnings():
        model = spec.compile()
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    return model, mujoco.MjData(model)


class CheetahHurdleEnv(HalfCheetahEnv):
    """HalfCheetah-v5 plus fixed hurdles it must jump (DIAYN paper, Sec. 4.2.2, "Cheetah Hurdle").

    The reward is forward progress, dx/dt of the root, as the paper states; `ctrl_cost_weight`
    defaults to 0 so that the return is exactly the distance run divided by dt (20 per metre).
    The hurdles span 1 m in y, which the planar cheetah never leaves. The observation is
    HalfCheetah-v5's 17 entries and one more: the distance from the back foot to the near side
    of the first hurdle it has not passed (negative while the foot is over it; HURDLE_SPACING
    past the last), as the DIAYN authors' hurdle env shows it, so that a policy can time jumps.
    """

    def __init__(self, n_hurdles: int = N_HURDLES, ctrl_cost_weight: float = 0.0, **kwargs):
        self.hurdles_x = FIRST_HURDLE_X + HURDLE_SPACING * np.arange(n_hurdles)
        if "camera_id" not in kwargs:
            # Gymnasium's default free camera looks at the median geom at start, which the
            # hurdles move to x ~ 30 m; half_cheetah.xml's "track" camera follows the cheetah.
            kwargs.setdefault("camera_name", "track")
        super().__init__(ctrl_cost_weight=ctrl_cost_weight, **kwargs)
        # EzPickle recorded HalfCheetahEnv's arguments by position; record ours instead.
        utils.EzPickle.__init__(self, n_hurdles=n_hurdles, ctrl_cost_weight=ctrl_cost_weight, **kwargs)
        self.robot_obs_dim = self.observation_space.shape[0]
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.robot_obs_dim + 1,), np.float64)

    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        spec = mujoco.MjSpec.from_file(self.fullpath)
        for i, x in enumerate(self.hurdles_x):
            # The cheetah's geoms have contype 1, conaffinity 0 (they touch the floor only);
            # conaffinity 1 makes them collide with the hurdles. World geoms never collide with
            # each other, so the hurdles need no care with the floor.
            spec.worldbody.add_geom(
                name=f"hurdle_{i}", type=mujoco.mjtGeom.mjGEOM_BOX,
                size=[HURDLE_WIDTH / 2, 0.5, HURDLE_HEIGHT / 2], pos=[x, 0.0, HURDLE_HEIGHT / 2],
                contype=1, conaffinity=1, rgba=[0.3, 0.35, 0.8, 1.0])
        model, data = _compile(spec, self.width, self.height)
        self._back_foot = model.geom("bfoot").id  # read every step: look the name up once
        return model, data

    def _back_foot_x(self) -> float:
        return float(self.data.geom_xpos[self._back_foot, 0])

    def hurdles_passed(self) -> int:
        """Hurdles ahead of the start that are wholly behind the back foot: a cheetah whose torso
        is past a hurdle but whose hind leg is still on it or before it has not passed it."""
        ahead_of_start = self.hurdles_x > 0.0  # the hurdle at x = -1 starts behind the cheetah
        return int(np.sum(ahead_of_start & (self.hurdles_x + HURDLE_WIDTH / 2 < self._back_foot_x())))

    def _to_next_hurdle(self) -> float:
        foot = self._back_foot_x()
        ahead = self.hurdles_x[self.hurdles_x + HURDLE_WIDTH / 2 >= foot]
        return float(ahead[0] - HURDLE_WIDTH / 2 - foot) if len(ahead) else HURDLE_SPACING

    def _get_obs(self) -> np.ndarray:
        return np.append(super()._get_obs(), self._to_next_hurdle())

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        info[EPISODE_METRICS] = {"hurdles_passed": self.hurdles_passed()}
        return obs, reward, terminated, truncated, info


class CheetahSparseEnv(HalfCheetahEnv):
    """HalfCheetah-v5 paid only far ahead: reward 1 on every step that ends with the torso more
    than `goal_x` metres forward of the origin, 0 everywhere else, no control cost (the sparse
    HalfCheetah of exploration benchmarks). Random actions tend to drift the cheetah backward, so
    the reward is found only by a policy that keeps going forward without having been paid for it.

    The observation is HalfCheetah-v5's 17 entries and the torso's x, on which the reward
    depends; the episode's furthest x is in the info for evaluations.
    """

    def __init__(self, goal_x: float = SPARSE_GOAL_X, **kwargs):
        self.goal_x = goal_x
        self.furthest_x = 0.0
        super().__init__(**kwargs)
        utils.EzPickle.__init__(self, goal_x=goal_x, **kwargs)
        self.robot_obs_dim = self.observation_space.shape[0]
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.robot_obs_dim + 1,), np.float64)

    def _get_obs(self) -> np.ndarray:
        return np.append(super()._get_obs(), self.data.qpos[0])

    def reset_model(self) -> np.ndarray:
        obs = super().reset_model()
        self.furthest_x = float(self.data.qpos[0])
        return obs

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        x = float(self.data.qpos[0])
        self.furthest_x = max(self.furthest_x, x)
        # HalfCheetah-v5's reward_* entries describe the dense reward this task does not give.
        info = {k: v for k, v in info.items() if not k.startswith("reward_")}
        info[EPISODE_METRICS] = {"furthest_x": self.furthest_x}
        return obs, float(x > self.goal_x), terminated, truncated, info


class AntLowGearEnv(AntEnv):
    """Ant-v5 with every hip and ankle motor's gear at `gear` (30: the DIAYN paper's Ant).

    Reward, observation and termination are Ant-v5's: the torso's height leaving [0.2, 1.0]
    ends the episode, as in rllab's Ant that the paper used (with gear 30 the ant rarely does).
    """

    # Ant-v5's observation starts with the torso's height and orientation (qpos[2:7]), where a
    # fall would show: a controller over skills may see them beside the task's own entries
    # (SkillEnv observe="task+pose").
    pose_obs_dim = 5

    def __init__(self, gear: float = LOW_GEAR, **kwargs):
        self.gear = gear
        super().__init__(**kwargs)
        utils.EzPickle.__init__(self, gear=gear, **kwargs)

    def _build_spec(self) -> mujoco.MjSpec:
        spec = mujoco.MjSpec.from_file(self.fullpath)
        for actuator in spec.actuators:
            actuator.gear[0] = self.gear
        return spec

    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        return _compile(self._build_spec(), self.width, self.height)


class AntWaypointsEnv(AntLowGearEnv):
    """The low-gear Ant must reach `waypoints` in order (DIAYN paper, Sec. 4.2.2, "Ant Navigation").

    Reward +1 on the step the torso's x-y comes within `radius` of the current waypoint, which
    then moves on to the next; 0 otherwise (so at most len(waypoints)). The episode terminates
    after the last one (or when Ant-v5 calls the ant unhealthy). A waypoint that is not the
    current one gives nothing, however close the ant passes.
    """

    def __init__(self, waypoints: tuple[tuple[float, float], ...] = WAYPOINTS, radius: float = 0.5,
                 **kwargs):
        self.waypoints = np.asarray(waypoints, dtype=np.float64)
        self.radius = radius
        self.current = 0
        super().__init__(**kwargs)
        utils.EzPickle.__init__(self, waypoints=waypoints, radius=radius, **kwargs)
        # Ant-v5's observation leaves out the torso's x-y, so without these two entries (the
        # current waypoint minus the torso's x-y) no policy could tell where to walk next.
        self.robot_obs_dim = self.observation_space.shape[0]
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.robot_obs_dim + 2,), np.float64)

    def _to_waypoint(self) -> np.ndarray:
        """The current waypoint (the last, once all are reached) minus the torso's x-y."""
        return self.waypoints[min(self.current, len(self.waypoints) - 1)] - self.data.qpos[:2]

    def _get_obs(self) -> np.ndarray:
        return np.concatenate([super()._get_obs(), self._to_waypoint()])

    def _build_spec(self) -> mujoco.MjSpec:
        spec = super()._build_spec()
        for i, (x, y) in enumerate(self.waypoints):
            # Sites are drawn but never collide: markers for videos, no change to the dynamics.
            spec.worldbody.add_site(name=f"waypoint_{i}", type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                                    pos=[x, y, 0.01], size=[self.radius, 0.005, 0.0],
                                    rgba=[0.2, 0.7, 0.3, 0.4])
        return spec

    def reset_model(self) -> np.ndarray:
        self.current = 0
        return super().reset_model()

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        xy = self.data.qpos[:2]
        distance = float(np.linalg.norm(xy - self.waypoints[self.current]))
        reward = 0.0
        if distance <= self.radius:
            reward = 1.0
            self.current += 1
        done = self.current == len(self.waypoints)
        if reward:  # the observation was taken before the waypoint moved on
            obs[self.robot_obs_dim:] = self._to_waypoint()
        # Ant-v5's reward_* entries describe a reward this task does not give.
        info = {k: v for k, v in info.items() if not k.startswith("reward_")}
        info.update(waypoint=self.current, distance=distance, success=done)
        return obs, reward, bool(terminated or done), truncated, info

    def _get_reset_info(self) -> dict:
        return {**super()._get_reset_info(), "waypoint": 0, "success": False}
