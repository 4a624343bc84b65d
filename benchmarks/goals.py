"""Zero-shot goal reaching with continuous METRA or LSD skills (`SkillLibrary.reach`).

Goals are x-y points drawn uniformly in a disc of --radius metres around the start; the goal
observation is the reset observation with the torso's x-y (which the skills see appended to the
robot's observation, `--feature xy`) replaced by the goal, as the METRA paper builds its goal
states. Each goal gets one episode of `reach` (z re-aimed every --every steps); it counts as
reached if the torso comes within --within metres of it at any step. The target on Ant-v5 is
>= 50% reached for goals within 7.5 m.

    python benchmarks/goals.py RUN_DIR --goals 50 --radius 7.5
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from _common import count, main_or_exit, non_negative, positive  # noqa: E402

from run import OneLineParser  # noqa: E402


def goal_observation(lib, env, xy: np.ndarray, seed: int) -> np.ndarray:
    """The reset observation with the appended torso x-y set to `xy`."""
    if getattr(lib.method.cfg, "feature", None) != "xy":
        from agents.config import ConfigError

        raise ConfigError("goal states are built from the torso's x-y appended to the observation: "
                          "these skills were trained without --feature xy")
    obs, _ = env.reset(seed=seed)
    goal = np.array(obs, dtype=np.float32)
    goal[-2:] = xy
    return goal


def goal_success(lib, n_goals: int, radius: float, within: float = 1.0, every: int = 1,
                 seed: int = 0) -> tuple[float, np.ndarray]:
    """(fraction of goals reached, the closest approach to each) over `n_goals` goals drawn in a
    disc of `radius` around the start."""
    rng = np.random.default_rng(seed)
    # The env's own time limit (1000 steps on Ant), not a shorter one the skills trained with.
    env = lib.make_env(seed, max_episode_steps=gym.spec(lib.env_name).max_episode_steps)
    closest = []
    for i in range(n_goals):
        # Uniform in the disc: the radius goes as the square root of a uniform draw.
        r, angle = radius * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        xy = np.array([r * np.cos(angle), r * np.sin(angle)])
        goal = goal_observation(lib, env, xy, seed + i)
        roll = lib.reach(goal, every=every, env=env, seed=seed + i)
        start = roll.positions[0]
        closest.append(np.linalg.norm(roll.positions - (start + xy), axis=1).min())
    closest = np.asarray(closest)
    return float((closest <= within).mean()), closest


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--goals", type=count, default=50)
    p.add_argument("--radius", type=positive, default=7.5)
    p.add_argument("--within", type=positive, default=1.0)
    p.add_argument("--every", type=count, default=1, help="steps between re-aiming z")
    p.add_argument("--seed", type=non_negative, default=0)
    a = p.parse_args()
    from skills.library import SkillLibrary

    lib = SkillLibrary.load(a.run_dir)
    rate, closest = goal_success(lib, a.goals, a.radius, a.within, a.every, a.seed)
    print(f"{a.run_dir}: {rate:.0%} of {a.goals} goals within {a.radius} m reached to {a.within} m "
          f"(median closest approach {np.median(closest):.2f} m)")


if __name__ == "__main__":
    main_or_exit(main)
