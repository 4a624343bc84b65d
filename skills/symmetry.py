"""Skills turned about the vertical: the Ant's physics does not change when the whole robot is
rotated about the world's z axis (a flat floor, gravity along -z), so a skill that walks towards
compass heading theta from state s walks towards theta + phi when it is fed the state rotated
by -phi. `RotatedSkills` offers each of K skills at 1, 2 or 4 quarter turns: K x turns skills
from one pretraining, so that a controller has a walker in every direction the pretraining
found in any one: DIAYN's directions come out of each run at random, and a set may lack a
walker towards some side.

Only quarter turns: they map the x-y components of a vector to a permutation of themselves up
to sign, so they commute with Ant-v5's clipping of the contact forces and the rotated
observation is exactly one the robot could produce.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from envs.registry import robot_of
from envs.skill_env import SkillPolicy

# Ant-v5's observation (exclude_current_positions, contact forces on): qpos[2:] = torso height,
# torso quaternion (w, x, y, z), 8 joint angles; qvel = torso linear velocity (world frame),
# angular velocity (the torso's own frame, which turns with it), 8 joint velocities; then
# cfrc_ext of the 13 bodies after the world, 6 each: torque and force in world orientation.
ANT_OBS_DIM = 105
_QUAT, _VEL, _CFRC, _N_BODIES = 1, 13, 27, 13
_ANT_ROBOTS = ("Ant-v5", "AntLowGear")


def rotate_xy(v: np.ndarray, quarter_turns: int) -> np.ndarray:
    """v's last axis holds (x, y) pairs; each turned by quarter_turns x 90 degrees about z."""
    x, y = v[..., 0], v[..., 1]
    for _ in range(quarter_turns % 4):
        x, y = -y, x
    return np.stack([x, y], axis=-1)


def _quaternion_turn(q: np.ndarray, quarter_turns: int) -> np.ndarray:
    """r (x) q for r the rotation by quarter_turns x 90 degrees about the world's z."""
    angle = np.pi / 2 * (quarter_turns % 4)
    rw, rz = np.cos(angle / 2), np.sin(angle / 2)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([rw * w - rz * z, rw * x - rz * y, rw * y + rz * x, rw * z + rz * w], axis=-1)


def _w_nonnegative(q: np.ndarray) -> np.ndarray:
    """q or -q, the same orientation, whichever has w >= 0: a robot that starts upright at w = 1
    and turns less than half a circle, as in pretraining, has w >= 0."""
    return np.where(q[..., :1] < 0, -q, q)


def yaw_quaternion_product(q: np.ndarray, quarter_turns: int) -> np.ndarray:
    """r (x) q for r the rotation by quarter_turns x 90 degrees about the world's z, signed so
    that w >= 0."""
    return _w_nonnegative(_quaternion_turn(q, quarter_turns))


def _turn_entries(obs: np.ndarray, quarter_turns: int) -> np.ndarray:
    """The turn of each part of Ant-v5's observation (linear in obs; the quaternion unsigned)."""
    out = obs.copy()
    out[..., _QUAT:_QUAT + 4] = _quaternion_turn(obs[..., _QUAT:_QUAT + 4], quarter_turns)
    out[..., _VEL:_VEL + 2] = rotate_xy(obs[..., _VEL:_VEL + 2], quarter_turns)
    cfrc = obs[..., _CFRC:].reshape(*obs.shape[:-1], _N_BODIES, 2, 3)  # (torque, force) x xyz
    turned = cfrc.copy()
    turned[..., :2] = rotate_xy(cfrc[..., :2], quarter_turns)
    out[..., _CFRC:] = turned.reshape(*obs.shape[:-1], _N_BODIES * 6)
    return out


@cache
def _turn_matrix(quarter_turns: int) -> np.ndarray:
    """The turn as one matrix, row i the turned unit vector e_i: it runs on every robot step of
    a turned skill, where one product costs a fraction of the entry-by-entry version."""
    return _turn_entries(np.eye(ANT_OBS_DIM), quarter_turns)


def rotate_ant_obs(obs: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Ant-v5's observation of the robot turned by quarter_turns x 90 degrees about the world's
    z axis (joint angles, joint velocities and the torso's own angular velocity do not change).
    With ANT_OBS_DIM + 2 entries, the last two are the torso's x-y (the DIAYN+prior skills'
    feature, appended): the turn is then about the world's origin, and the position turns too."""
    obs = np.asarray(obs)
    if obs.shape[-1] not in (ANT_OBS_DIM, ANT_OBS_DIM + 2):
        raise ValueError(f"rotate_ant_obs needs Ant-v5's {ANT_OBS_DIM}-entry observation (with "
                         f"contact forces), or it and the torso's x-y, got {obs.shape[-1]} entries")
    out = obs[..., :ANT_OBS_DIM] @ _turn_matrix(quarter_turns % 4)
    out[..., _QUAT:_QUAT + 4] = _w_nonnegative(out[..., _QUAT:_QUAT + 4])
    if obs.shape[-1] > ANT_OBS_DIM:
        out = np.concatenate([out, rotate_xy(obs[..., ANT_OBS_DIM:], quarter_turns)], axis=-1)
    return out.astype(obs.dtype, copy=False)


class RotatedSkills:
    """K skills at `turns` evenly spaced headings (1, 2 or 4): skill a = t K + z is skill z
    turned by t quarter turns (4 // turns of them per step) about the vertical."""

    def __init__(self, library, turns: int):
        if turns not in (1, 2, 4):
            raise ValueError(f"skill rotations must be 1, 2 or 4 (quarter turns apart), got {turns}")
        robot = robot_of(library.env_name)
        if turns > 1 and robot not in _ANT_ROBOTS:
            raise ValueError(f"skill rotations are defined for the Ant ({', '.join(_ANT_ROBOTS)}); "
                             f"these skills are {library.env_name}'s: use 1")
        self.library: SkillPolicy = library
        self.turns = turns
        self.base_skills = library.n_skills
        self.n_skills = library.n_skills * turns
        self.continuous_dim = 0  # turns of discrete skills only

    def split(self, a: int) -> tuple[int, int]:
        """(the pretrained skill, its quarter turns) behind skill a."""
        if not 0 <= a < self.n_skills:
            raise ValueError(f"skill {a} does not exist: there are skills 0..{self.n_skills - 1}")
        return a % self.base_skills, (a // self.base_skills) * (4 // self.turns)

    def act(self, obs: np.ndarray, a: int, deterministic: bool = True) -> np.ndarray:
        z, quarter_turns = self.split(a)
        if quarter_turns:
            # Show the skill the robot turned back by phi; the action it picks there (joint
            # torques, the same in any frame) then walks its heading plus phi from here.
            obs = rotate_ant_obs(obs, -quarter_turns)
        return self.library.act(obs, z, deterministic)

    def observed_feature(self, env):
        feature = self.library.observed_feature(env)
        if feature is not None and self.turns > 1 and np.size(feature()) != 2:
            raise ValueError("turned skills can see the torso's x-y beside the observation, not "
                             f"another feature ({np.size(feature())} entries); use 1 rotation")
        return feature
