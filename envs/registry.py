"""make_env(name, seed): the Gymnasium MuJoCo robots and the project's own envs, by name.

Every continuous env comes out with actions in [-1, 1] (RescaleAction where the robot's bounds
differ), so agents never see the robot's own scale. `env_features(env)` names the positions an
env exposes for a skill discriminator even where the policy's observation leaves them out
(Gymnasium's v5 robots drop the x-y of the torso from the observation by default).
"""

from __future__ import annotations

import contextlib
import difflib
import sys
import warnings
from collections.abc import Callable, Iterator

import gymnasium as gym
import numpy as np
from gymnasium import spaces

# Robots whose root has a free joint or x and y slides: qpos[0:2] is the x-y of the torso.
_XY_ROBOTS = ("Ant-v5", "Humanoid-v5", "Swimmer-v5")
# Planar robots: qpos[0] is the x of the torso.
_X_ROBOTS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
MUJOCO_ROBOTS = _XY_ROBOTS + _X_ROBOTS

# The features that read the torso's position, which Gymnasium's v5 robots leave out of their
# observation by default (exclude_current_positions_from_observation).
POSITION_FEATURES = ("x", "xy")
# Which position features each env exposes: "xy" (x-y of the torso) or "x" (planar robots);
# each comes with its velocity ("vxy", "vx").
_POSITION: dict[str, str] = {**{r: "xy" for r in _XY_ROBOTS}, **{r: "x" for r in _X_ROBOTS}}
# Robot each env is built on, so skills are only reused on the robot that learned them.
_ROBOT: dict[str, str] = {r: r for r in MUJOCO_ROBOTS}
_PROJECT_ENVS: set[str] = set()


def register_project_env(
    env_id: str, entry_point: str, max_episode_steps: int, position: str, robot: str, **kwargs
) -> None:
    """Add an env of the project's own to Gymnasium's registry and to ours."""
    _PROJECT_ENVS.add(env_id)
    _POSITION[env_id] = position
    _ROBOT[env_id] = robot
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry_point, max_episode_steps=max_episode_steps,
                     kwargs=kwargs)


register_project_env("PointMass-v0", "envs.point_mass:PointMassEnv", 100, "xy", "PointMass")
register_project_env("PointMassGoal-v0", "envs.point_mass:PointMassEnv", 100, "xy", "PointMass",
                     goal=(2.5, 2.5))
register_project_env("PointMassGoalSparse-v0", "envs.point_mass:PointMassEnv", 100, "xy",
                     "PointMass", goal=(2.5, 2.5), sparse=True)
# The DIAYN paper's downstream tasks (envs/tasks.py). Here and not in envs/tasks.py: importing that
# module imports mujoco, which fixes its GL backend before analysis.video can choose one.
register_project_env("CheetahHurdle-v0", "envs.tasks:CheetahHurdleEnv", 1000, "x", "HalfCheetah-v5")
# A sparse-reward cheetah for the exploration claim; HalfCheetah skills reuse on it.
register_project_env("HalfCheetahSparse-v0", "envs.tasks:CheetahSparseEnv", 1000, "x", "HalfCheetah-v5")
register_project_env("AntLowGear-v0", "envs.tasks:AntLowGearEnv", 1000, "xy", "AntLowGear")
# 2000 steps (100 s) for the 20 m walk, 0.2 m/s on average: the gear-30 motors are 5x weaker.
register_project_env("AntWaypoints-v0", "envs.tasks:AntWaypointsEnv", 2000, "xy", "AntLowGear")
# HalfCheetah paid for running backward: the imitation benchmark's second expert, and a task for
# skills pretrained on HalfCheetah-v5.
register_project_env("HalfCheetahBackward-v0", "gymnasium.envs.mujoco.half_cheetah_v5:HalfCheetahEnv",
                     1000, "x", "HalfCheetah-v5", forward_reward_weight=-1.0)
# Soft Q-learning's multi-goal point (1702.08165, Sec. 5.1); not MuJoCo, but its `data` mirrors
# MjData's qpos and qvel, so env_features gives it the x-y features of an "xy" env unchanged.
register_project_env("MultiGoal-v0", "envs.multigoal:MultiGoalEnv", 30, "xy", "MultiGoal")


def robot_of(name: str) -> str:
    """The robot env `name` is built on ("PointMass", "Ant-v5", ...); itself if unknown."""
    return _ROBOT.get(name, name)


def env_names() -> list[str]:
    return sorted((*MUJOCO_ROBOTS, "Pendulum-v1", "CartPole-v1", *_PROJECT_ENVS))


class UnknownEnvError(ValueError):
    pass


def check_env_name(name: str) -> None:
    """Raise UnknownEnvError, naming the closest registered env (halfcheetah-v5, HalfCheetah-v4:
    HalfCheetah-v5) and listing them all, unless `name` is one."""
    names = env_names()
    if name in names:
        return
    folded = {n.lower(): n for n in names}
    close = difflib.get_close_matches(str(name).lower(), list(folded), n=1, cutoff=0.8)
    hint = f" (did you mean {folded[close[0]]!r}?)" if close else ""
    raise UnknownEnvError(f"unknown env {name!r}{hint}; valid names: {', '.join(names)}")


class RobotMismatchError(ValueError):
    """Skills learned on one robot were asked to act on another."""


def check_same_robot(skills_env: str, task_env: str) -> None:
    """Raise unless skills pretrained on `skills_env` can act in `task_env`: a skill policy only
    makes sense on the body (and observation) it was learned on (DIAYN paper, Sec. 4.2.2)."""
    for name in (skills_env, task_env):
        check_env_name(name)
    skills_robot, task_robot = robot_of(skills_env), robot_of(task_env)
    if skills_robot != task_robot:
        # Every env of the task's robot, the robot's own (HalfCheetah-v5) first: the task itself
        # belongs in the list too, where a task of that robot was asked for.
        same = sorted((n for n in env_names() if robot_of(n) == task_robot),
                      key=lambda n: (n != robot_of(n), n))
        raise RobotMismatchError(
            f"skills from {skills_env} (robot {skills_robot}) cannot run {task_env} (robot "
            f"{task_robot}); pretrain skills on an env of that robot: {', '.join(same)}")


@contextlib.contextmanager
def quiet_model_warnings() -> Iterator[None]:
    """Gymnasium's half_cheetah.xml sets compiler/settotalmass, which MuJoCo 4 calls deprecated at
    every load; it still builds HalfCheetah-v5's 14 kg cheetah (tests/test_tasks.py checks), so
    the warning, once per env made, tells a user nothing they can act on. MuJoCo raises it
    through its C warning handler when loading XML and as a Python warning when compiling an
    MjSpec; both are dropped, every other warning passes."""
    import mujoco

    previous = mujoco.get_mju_user_warning()

    def handler(message: str) -> None:
        if "settotalmass" in message:
            return
        if previous is not None:
            previous(message)
        else:  # MuJoCo's own handler, which a Python one replaces
            print(f"WARNING: {message}", file=sys.stderr)

    mujoco.set_mju_user_warning(handler)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*settotalmass.*deprecated")
            yield
    finally:
        mujoco.set_mju_user_warning(previous)


def has_free_root(env: gym.Env) -> bool:
    """Whether env's robot has a free-floating torso (its first joint free: Ant, Humanoid)."""
    import mujoco

    model = getattr(env.unwrapped, "model", None)
    return model is not None and model.njnt > 0 and model.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE


def up_z(qpos: np.ndarray) -> float:
    """The z component of a free torso's up axis, from its unit quaternion qpos[3:7] (w, x, y,
    z): below 0 the robot lies on its back."""
    _, x, y, _ = qpos[3:7]
    return float(1.0 - 2.0 * (x * x + y * y))


class EndWhenFlipped(gym.Wrapper):
    """Ends the episode (as terminated) once the torso's up axis points below the horizontal: a
    robot with a free-floating torso on its back. Ant-v5's own health test is the torso's height,
    and an ant on its back lies 0.27 m high, inside the healthy range, where it can only kick;
    skills that turn it over early then lose nothing for it (benchmarks/RESULTS.md, discovery)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        if not has_free_root(env):
            name = env.spec.id if env.spec else type(env.unwrapped).__name__
            raise UnknownEnvError(f"env {name} has no free-floating torso to turn over: "
                                  "terminate_when_flipped is for Ant and Humanoid")
        self._qpos = env.unwrapped.data.qpos

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if up_z(self._qpos) < 0.0:
            terminated = True
        return obs, reward, terminated, truncated, info


def make_env(name: str, seed: int | None = None, render_mode: str | None = None, **kwargs) -> gym.Env:
    """Build env `name`, seeded (reset seed and action-space seed), actions scaled to [-1, 1].

    Extra keyword arguments go to the env's constructor (e.g. `width`, `height` for rendering),
    except `terminate_when_flipped=True`, which ends episodes when the robot turns over
    (`EndWhenFlipped`).
    """
    check_env_name(name)
    flipped = kwargs.pop("terminate_when_flipped", False)
    skip = kwargs.get("frame_skip", 1)
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 1:
        # MuJoCo envs take any number here and fail later (a negative timestep trains on;
        # rendering then asserts), or divide by zero for 0.
        raise UnknownEnvError(f"env {name}: frame_skip must be a whole number >= 1, got {skip!r}")
    # Project envs import their module lazily through the entry point.
    try:
        with quiet_model_warnings():
            env = gym.make(name, render_mode=render_mode, **kwargs)
    except (TypeError, ValueError, AssertionError) as e:
        if "unexpected keyword argument" in str(e):
            given = ", ".join(k for k in kwargs if f"'{k}'" in str(e)) or ", ".join(kwargs)
            raise UnknownEnvError(f"env {name} has no option {given}") from None
        if not kwargs:
            raise
        # An option of the wrong type or out of range, e.g. {"max_episode_steps": "200"} or
        # {"frame_skip": -3} from a config file: the env's own check, as one line.
        raise UnknownEnvError(f"env {name} rejected its options {kwargs}: {e}") from None
    if flipped:
        env = EndWhenFlipped(env)
    if isinstance(env.action_space, gym.spaces.Box):
        low, high = env.action_space.low, env.action_space.high
        if not (np.all(low == -1.0) and np.all(high == 1.0)):
            # float32 bounds: float64 ones make Gymnasium warn about lost precision.
            unit = np.ones(low.shape, dtype=np.float32)
            env = gym.wrappers.RescaleAction(env, -unit, unit)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def env_features(env: gym.Env) -> dict[str, Callable[[], np.ndarray]]:
    """Named state features of `env`'s current state, for a discriminator, read from the
    simulator so they exist whatever the observation holds: the torso's position 'x' (and 'xy'
    where it moves in a plane) and its velocity 'vx' (and 'vxy'), a prior towards skills that
    differ in how fast they travel, not in which posture they hold; 'heading', the direction of
    'vxy', asks for skills that travel in different directions (navigation); 'com_vx' (and
    'com_vxy'), the velocity of the robot's centre of mass, is the travelling speed without the
    torso's swing within each stride (MuJoCo robots with a torso)."""
    position = _POSITION.get(env.spec.id if env.spec is not None else "")
    feats: dict[str, Callable[[], np.ndarray]] = {}
    if position is None:
        return feats
    data = env.unwrapped.data
    feats["x"] = lambda: data.qpos[:1].astype(np.float32)
    if position == "xy":
        feats["xy"] = lambda: data.qpos[:2].astype(np.float32)
    # A slide's or a free joint's first qvel entries are the torso's world-frame velocity.
    feats["vx"] = lambda: data.qvel[:1].astype(np.float32)
    if position == "xy":
        feats["vxy"] = lambda: data.qvel[:2].astype(np.float32)
        feats["heading"] = lambda: unit(data.qvel[:2])
    model = getattr(env.unwrapped, "model", None)
    if model is not None:
        import mujoco  # not at the top: importing it fixes its GL backend (a MuJoCo env has)

        root = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "torso")
        if root >= 0:
            com_v = _com_velocity(model, data, root)
            feats["com_vx"] = lambda: com_v()[:1]
            if position == "xy":
                feats["com_vxy"] = lambda: com_v()[:2]
    return feats


def _com_velocity(model, data, root: int) -> Callable[[], np.ndarray]:
    """The world-frame linear velocity of the robot's centre of mass (the subtree under its
    root body). Where the torso pitches with every stride its own velocity swings by more than
    1 m/s about a running gait's mean; the centre of mass moves with the gait's speed, with far
    less swing, so one state says which gait it came from."""
    import mujoco

    def com_v() -> np.ndarray:
        # mj_step fills subtree_linvel only when a sensor asks for it, and leaves the frames it
        # is built from one substep behind qpos and qvel: bring them up to date first.
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        mujoco.mj_comVel(model, data)
        mujoco.mj_subtreeVel(model, data)
        return data.subtree_linvel[root].astype(np.float32)
    return com_v


def unit(v: np.ndarray) -> np.ndarray:
    """`v` scaled to length 1 (0 where it is 0), as float32. As a feature, the direction the
    torso moves in whatever its speed: skills told apart by heading must each travel their own
    way, and a skill creeping one way looks like one walking that way."""
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else np.zeros_like(v)).astype(np.float32)


class UnknownFeatureError(ValueError):
    pass


def state_feature(env: gym.Env, name: str | None) -> Callable[[], np.ndarray] | None:
    """The feature `name` of env_features(env), or several joined by commas ("x,vx": the torso's
    position and velocity side by side); None for None (the discriminator sees the observation)."""
    if name is None:
        return None
    feats, names = env_features(env), name.split(",")
    unknown = [n for n in names if n not in feats]
    if unknown:
        raise UnknownFeatureError(
            f"env {env.spec.id if env.spec else env} exposes no feature {unknown[0]!r}; it exposes: "
            f"{', '.join(feats) or 'none (use the full observation)'}, or several joined by commas")
    if len(names) == 1:
        return feats[name]
    parts = [feats[n] for n in names]
    return lambda: np.concatenate([f() for f in parts])


class FeatureInObservation(gym.ObservationWrapper):
    """`env`'s observation with a state feature appended (`feature_fn()`, read after each reset
    and step): for a policy whose reward depends on state its observation leaves out. DIAYN with
    the x-y prior pays for where the torso is; a v5 Ant does not observe that, and actor and
    critics would learn targets that vary with something they cannot see."""

    def __init__(self, env: gym.Env, feature_fn: Callable[[], np.ndarray]):
        super().__init__(env)
        self.feature_fn = feature_fn
        n, space = int(np.size(feature_fn())), env.observation_space
        inf = np.full(n, np.inf, dtype=space.dtype)
        self.observation_space = spaces.Box(np.r_[space.low, -inf], np.r_[space.high, inf],
                                            dtype=space.dtype)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        return np.concatenate([obs, self.feature_fn().astype(obs.dtype)])


def hides_feature(env: gym.Env, name: str | None) -> bool:
    """Whether feature `name` (comma-joined names too) reads state that `env`'s observation
    leaves out: the torso's position on a robot that drops it, unless `env` already appends it."""
    if name is None or not any(n in POSITION_FEATURES for n in name.split(",")):
        return False
    e = env
    while isinstance(e, gym.Wrapper):
        if isinstance(e, FeatureInObservation):
            return False
        e = e.env
    return bool(getattr(env.unwrapped, "_exclude_current_positions_from_observation", False))


def observe_feature(env: gym.Env, name: str | None) -> gym.Env:
    """`env` with feature `name` appended to its observation where the observation leaves it
    out (hides_feature), else `env` itself. A name `env` does not expose is an
    UnknownFeatureError here, whether or not it would be appended."""
    feature_fn = state_feature(env, name)
    return FeatureInObservation(env, feature_fn) if hides_feature(env, name) else env
