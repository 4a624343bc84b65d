"""SkillEnv: the DIAYN paper's hierarchy as an env (Eysenbach et al. 2018, arXiv 1802.06070,
Sec. 4.2.2): a meta-controller's action is a skill index z, and one of its steps runs the frozen
skill policy pi(a | s, z) for k steps of the task.

Because the hierarchy is a plain `gymnasium.Env` with a Discrete(K) action space, any agent
drives it: our discrete maxent agent, or a Stable-Baselines3 PPO / DQN. The skills never train.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.loop import ROBOT_STEPS, UNDISCOUNTED_REWARD


class SkillPolicy(Protocol):
    """What SkillEnv needs of a skill set (skills.library.SkillLibrary is one)."""

    n_skills: int
    env_name: str
    """the env the skills were pretrained on"""
    continuous_dim: int
    """d for continuous skills (z a unit vector in R^d: SkillEnv's action is a Box), 0 for K"""

    def act(self, obs: np.ndarray, z: int | np.ndarray, deterministic: bool = True) -> np.ndarray:
        """The low-level action of skill z in the task's observation `obs`."""
        ...

    def observed_feature(self, env: gym.Env) -> Callable[[], np.ndarray] | None:
        """What the skills see of `env`'s state beyond the robot's observation, appended after
        it in `act`'s `obs` (None: nothing)."""
        ...


DURATIONS_RULE = "must be distinct whole numbers of k robot steps, each at least 1, e.g. [1, 10]"


def durations_ok(durations) -> bool:
    """Whether `durations` can be a SkillEnv's (DURATIONS_RULE): the config and the env share it."""
    return (len(durations) > 0 and all(int(d) == d and d >= 1 for d in durations)
            and len(set(durations)) == len(durations))


def robot_obs_dim(env: gym.Env) -> int:
    """How many leading entries of `env`'s observation are its robot's: the skills' input. A task
    may append its own after them (envs/tasks.py); the controller sees all of it."""
    return int(getattr(env.unwrapped, "robot_obs_dim", env.observation_space.shape[0]))


def skill_obs_dim(task_env: gym.Env, library: SkillPolicy) -> int:
    """How many leading entries of `task_env`'s observation skills take: all of them where they
    were pretrained on the task's own env (reward-free, on its hurdles: they saw the task's
    entries then), else the robot's."""
    task_id = task_env.spec.id if task_env.spec is not None else None
    if getattr(library, "env_name", None) == task_id:  # fakes and wrappers may not name one
        return task_env.observation_space.shape[0]
    return robot_obs_dim(task_env)


def controller_index(env: gym.Env, observe: str) -> np.ndarray:
    """Which entries of `env`'s observation a controller sees: all ("full"), those the task
    appends after the robot's ("task"), or those plus the torso's height and orientation, the
    robot's first `pose_obs_dim` entries ("task+pose")."""
    total, robot = env.observation_space.shape[0], robot_obs_dim(env)
    if observe == "full":
        return np.arange(total)
    if observe not in ("task", "task+pose"):
        raise ValueError(f"observe must be 'full', 'task' or 'task+pose', got {observe!r}")
    name = env.spec.id if env.spec else type(env.unwrapped).__name__
    if total == robot:
        raise ValueError(f"observe={observe!r}: {name} appends no entries to its robot's "
                         "observation; use 'full'")
    pose = int(getattr(env.unwrapped, "pose_obs_dim", 0)) if observe == "task+pose" else 0
    if observe == "task+pose" and not pose:
        raise ValueError(f"observe='task+pose': {name} does not say which entries are its "
                         "torso's pose (pose_obs_dim); use 'task' or 'full'")
    return np.r_[np.arange(pose), np.arange(robot, total)]


class SkillEnv(gym.Env):
    """Run skill z for `steps_per_skill` low-level steps of `task_env` per step(z).

    The reward is the sum of the task's rewards over those steps; given the controller's
    discount per robot step `gamma`, their discounted sum r_1 + gamma r_2 + ... + gamma^(n-1)
    r_n, the option's return in the semi-MDP Bellman equation (Sutton, Precup & Singh 1999),
    so that a controller prefers a skill that reaches a goal sooner within its choice; the
    plain sum, what a return reports, is then in info[UNDISCOUNTED_REWARD], and n, which the
    next state's discount gamma^n needs, in info[ROBOT_STEPS] either way. The macro step ends
    early if the task's episode does, and terminated / truncated are the task's own, so an agent
    bootstraps through the task's time limit and not through its terminations.
    Skills act deterministically (their mean action), as the paper's frozen skills do, on the
    robot's part of the observation, or all of it where they were pretrained on the task's own
    env, and any feature of the state they were trained to see beside it, such as the torso's
    position where the robot's observation leaves it out. The controller sees the task's
    observation whole (`observe="full"`), or only the entries the task appends after the
    robot's (`"task"`: on AntWaypoints the waypoint relative to the torso), which is all a
    controller over skills that already walk needs to know, and 2 inputs instead of 107 to
    learn from; `"task+pose"` adds the torso's height and orientation, where a fall would show.
    With `last_skill=True` the controller also sees which skill ran last, one-hot (zeros at an
    episode's start): the gait the next skill must start from, where a switch of skills can make
    the robot fall.
    With `durations` (d_0, d_1, ...) a choice also says how long its skill runs: action
    i K + z runs skill z for d_i k robot steps (K x len(durations) choices; (1,): every choice k
    steps). A long hold is then one choice, valued by its own return, not a run of short choices
    valued under a policy that may switch at each of them: a run-up that pays only when kept.
    """

    def __init__(self, task_env: gym.Env, library: SkillPolicy, steps_per_skill: int,
                 observe: str = "full", last_skill: bool = False, gamma: float | None = None,
                 durations: tuple[int, ...] = (1,)):
        if steps_per_skill < 1:
            raise ValueError(f"steps_per_skill must be at least 1 (got {steps_per_skill})")
        durations = tuple(durations)
        if not durations_ok(durations):
            raise ValueError(f"durations {DURATIONS_RULE} (got {durations})")
        if durations != (1,) and getattr(library, "continuous_dim", 0):
            raise ValueError("durations are choices beside discrete skills; these skills are "
                             "continuous: leave durations at (1,)")
        self.durations = tuple(int(d) for d in durations)
        if gamma is not None and not 0 <= gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1] (got {gamma})")
        self.gamma = gamma
        self.task_env = task_env
        self.library = library
        self.steps_per_skill = steps_per_skill
        self._robot_dim = skill_obs_dim(task_env, library)
        self._feature = library.observed_feature(task_env)
        space = task_env.observation_space
        self._index = controller_index(task_env, observe)
        # Continuous skills (z a unit vector in R^d): the controller's action is z, in a Box.
        self._d = getattr(library, "continuous_dim", 0)
        k = (self._d or library.n_skills) if last_skill else 0
        low = -1.0 if self._d else 0.0
        self.observation_space = spaces.Box(np.r_[space.low[self._index], np.full(k, low)],
                                            np.r_[space.high[self._index], np.ones(k)],
                                            dtype=space.dtype)
        if self._d:
            self.action_space = spaces.Box(-1.0, 1.0, (self._d,), np.float32)
        else:
            self.action_space = spaces.Discrete(library.n_skills * len(self.durations))
        # Row z + 1 of this table is skill z's one-hot, row 0 "no skill yet" (K columns or none).
        self._last = np.eye(library.n_skills + 1, dtype=space.dtype)[:, 1:k + 1]
        self._last_z = np.zeros(k, dtype=space.dtype)
        self.metadata = dict(task_env.metadata)
        self.render_mode = task_env.render_mode
        self._obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._obs, info = self.task_env.reset(seed=seed, options=options)
        self._last_z[:] = 0.0
        return self._observe(-1), info

    def _observe(self, z) -> np.ndarray:
        """What the controller sees after skill z ran (z = -1: at the episode's start)."""
        if self._d:
            if self._last_z.size and np.ndim(z) == 1:
                self._last_z[:] = z
            return np.concatenate([self._obs[self._index], self._last_z])
        return np.concatenate([self._obs[self._index], self._last[z + 1]])

    def _skill_obs(self) -> np.ndarray:
        """What the skills see now: the robot's observation, and their feature if any."""
        robot = self._obs[:self._robot_dim]
        return robot if self._feature is None else np.concatenate([robot, self._feature()])

    def step(self, z):
        if self._obs is None:
            raise RuntimeError("SkillEnv.step called before reset")
        steps = self.steps_per_skill
        if self._d:
            z = np.asarray(z, dtype=np.float32)
            if z.shape != (self._d,) or not np.all(np.isfinite(z)):
                raise ValueError(f"skill {z!r} is not a vector of {self._d} finite entries")
            # The skills were trained on unit vectors: the action's direction is the skill.
            norm = float(np.linalg.norm(z))
            z = z / norm if norm > 1e-6 else self.library.shown_skills()[0]
        elif not self.action_space.contains(z):
            raise ValueError(f"skill {z!r} is not in {self.action_space}")
        else:
            i, z = divmod(int(z), self.library.n_skills)
            steps *= self.durations[i]
        total, discounted, n = 0.0, 0.0, 0
        terminated = truncated = False
        info: dict[str, Any] = {}
        while n < steps and not (terminated or truncated):
            action = self.library.act(self._skill_obs(), z, deterministic=True)
            self._obs, reward, terminated, truncated, info = self.task_env.step(action)
            total += float(reward)
            if self.gamma is not None:
                discounted += self.gamma**n * float(reward)
            n += 1
        # The task's last info, plus how many robot steps the choice took (the loop's protocol).
        info = {**info, ROBOT_STEPS: n, "skill": z}
        if self.gamma is None:
            return self._observe(z), total, bool(terminated), bool(truncated), info
        info[UNDISCOUNTED_REWARD] = total
        return self._observe(z), discounted, bool(terminated), bool(truncated), info

    def render(self):
        return self.task_env.render()

    def close(self) -> None:
        self.task_env.close()
