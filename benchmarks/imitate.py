"""Imitation by skill retrieval (DIAYN, Sec. 4.2.3): which pretrained skill is an expert's?

From each expert's trajectories, `SkillLibrary.infer_skill` retrieves the skill z that maximises
sum_t log q(z | f(s_t)) over the expert's states (read by the skills' own feature, e.g. the
velocity of the centre of mass). Reported per expert and trajectory: the expert's mean velocity
along x, the retrieved skill's (one deterministic episode of it), the imitation error
|v_skill - v_expert|, and the error of a skill drawn at random (the mean over all skills).
The experts are SAC policies (`run.py train`) on HalfCheetah-v5's reward (running forward) and on
HalfCheetahBackward-v0's (running backward); --train-experts trains them first.

    python benchmarks/imitate.py --skills RUN --experts FWD_RUN BWD_RUN --trajectories 5
    python benchmarks/imitate.py --skills RUN --train-experts DIR --expert-steps 100000
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
from _common import count, main_or_exit, run  # noqa: E402

from run import OneLineParser  # noqa: E402

EXPERT_TASKS = ("HalfCheetah-v5", "HalfCheetahBackward-v0")


def mean_velocity(positions: np.ndarray, dt: float) -> float:
    """Mean velocity along x over an episode: (x_T - x_0) / (T dt)."""
    x = np.asarray(positions, dtype=np.float64).reshape(len(positions), -1)[:, 0]
    return float((x[-1] - x[0]) / ((len(x) - 1) * dt))


def expert_trajectory(lib, agent, seed: int) -> tuple[np.ndarray, float]:
    """One episode of the expert in the skills' own env (so that their feature reads its
    states): the features of the states it visits, and its mean velocity."""
    from skills.evaluate import position_fn

    env = lib.make_env(seed)
    feature_fn, position = lib.method.feature_for(env), position_fn(env)
    obs, _ = env.reset(seed=seed)
    # The expert saw the robot's own observation: the skills' may have a feature appended after it.
    n_expert = agent.actor.trunk[0].in_features
    feats, points, done = [], [position()], False
    while not done:
        action = agent.act(obs[:n_expert].astype(np.float32), deterministic=True)
        obs, _, terminated, truncated, _ = env.step(action)
        feats.append(feature_fn() if feature_fn else obs)
        points.append(position())
        done = terminated or truncated
    return np.asarray(feats, np.float32), mean_velocity(np.asarray(points), env.unwrapped.dt)


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--skills", type=Path, required=True, help="a HalfCheetah-v5 pretraining run")
    p.add_argument("--experts", type=Path, nargs="+", default=None, help="train runs of the experts")
    p.add_argument("--train-experts", type=Path, default=None, help="train them into this directory")
    p.add_argument("--expert-steps", type=count, default=100_000)
    p.add_argument("--trajectories", type=count, default=5, help="per expert")
    a = p.parse_args()
    from analysis.policies import load_agent
    from skills.library import SkillLibrary

    experts = a.experts or []
    if a.train_experts:
        for task in EXPERT_TASKS:
            out = a.train_experts / task
            if not (out / "checkpoints" / "latest.pt").is_file():
                run(["train", "--env", task, "--total-steps", str(a.expert_steps), "--seed", "0",
                     "--run-dir", str(out), "--no-progress"])
            experts.append(out)
    if not experts:
        raise SystemExit("give --experts RUN ... or --train-experts DIR")
    lib = SkillLibrary.load(a.skills)
    dt = lib.make_env().unwrapped.dt
    skill_v = np.array([mean_velocity(lib.rollout(z, seed=0).positions, dt) for z in range(lib.n_skills)])
    print("skills' mean velocity (m/s): " + ", ".join(f"z={z}: {v:+.2f}" for z, v in enumerate(skill_v)))
    print("| expert | trajectory | expert velocity | retrieved skill | its velocity | error | "
          "random skill's error |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    errors, random_errors = [], []
    for expert in experts:
        cfg, agent, _ = load_agent(expert)
        for i in range(a.trajectories):
            feats, v = expert_trajectory(lib, agent, seed=1000 + i)
            z = lib.infer_skill(feats)
            errors.append(abs(skill_v[z] - v))
            random_errors.append(float(np.mean(np.abs(skill_v - v))))
            print(f"| {cfg.env} | {i} | {v:+.2f} | {z} | {skill_v[z]:+.2f} | {errors[-1]:.2f} | "
                  f"{random_errors[-1]:.2f} |", flush=True)
    print(f"mean imitation error {np.mean(errors):.2f} m/s against a random skill's "
          f"{np.mean(random_errors):.2f}")


if __name__ == "__main__":
    main_or_exit(main)
