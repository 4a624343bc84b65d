"""DIAYN on a MuJoCo robot: held-out accuracy, what each skill does, coverage against random.

HalfCheetah-v5, 10 skills, the discriminator sees the velocity of the cheetah's centre of mass
(--feature vx for the torso's, x for its position, obs for the whole observation; targets:
held-out accuracy >= 0.8; one skill running forward at > 1 m/s and one running backward, the
paper's behaviours):

    python benchmarks/diayn_mujoco.py --env HalfCheetah-v5 --feature com_vx --steps 300000 \
        --run-dir /tmp/bench/cheetah

Ant-v5, 10 skills, the discriminator sees the torso's x-y (DIAYN+prior): coverage of 1 m cells
by the skills' rollouts against a uniformly random policy's over as many episodes, as a ratio:

    python benchmarks/diayn_mujoco.py --env Ant-v5 --feature xy --steps 100000 --run-dir /tmp/bench/ant

The pretraining goes through run.py; a --run-dir that already holds a run is resumed (a long
run can be stopped with Ctrl-C and continued), one that has finished is only evaluated. Every
skill is then rolled out deterministically on a fresh env (seed 10^6, never trained on): the
held-out accuracy is the discriminator's on those states, the velocity is the mean x-velocity
(final x - initial x) / (T dt) of each rollout.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _common import count, main_or_exit, non_negative, random_coverage, run

from run import OneLineParser


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--feature", default="x",
                   help="what the discriminator sees: x, xy, vx, vxy, com_vx, com_vxy, or 'obs'")
    p.add_argument("--skills", type=int, default=10)
    p.add_argument("--steps", type=count, default=300_000)
    p.add_argument("--seed", type=non_negative, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--episodes", type=count, default=1, help="evaluation rollouts per skill")
    p.add_argument("--eval-every", type=count, default=None, help="default: a sixth of --steps")
    p.add_argument("--alpha", type=float, default=None, help="fixed temperature (default: learned)")
    p.add_argument("--target-entropy", type=float, default=None,
                   help="entropy the learned temperature aims for (default: run.py's, -|A|)")
    p.add_argument("--disc-hidden", type=int, nargs="+", default=None,
                   help="discriminator hidden sizes (default: run.py's)")
    p.add_argument("--run-dir", type=Path, required=True)
    a = p.parse_args()

    common = ["--run-dir", str(a.run_dir), "--total-steps", str(a.steps), "--no-visualize",
              "--threads", str(a.threads)]
    t0 = time.perf_counter()
    if (a.run_dir / "config.json").exists():
        run(["pretrain", "--resume", *common])
    else:
        feature = [] if a.feature == "obs" else ["--feature", a.feature]
        alpha = [] if a.alpha is None else ["--alpha", str(a.alpha)]
        if a.target_entropy is not None:
            alpha += ["--target-entropy", str(a.target_entropy)]
        width = [] if a.disc_hidden is None else ["--disc-hidden", *map(str, a.disc_hidden)]
        run(["pretrain", "--env", a.env, "--skills", str(a.skills), *feature, *alpha, *width,
             "--seed", str(a.seed), "--eval-every", str(a.eval_every or max(a.steps // 6, 1)), *common])
    print(f"pretraining: {(time.perf_counter() - t0) / 60:.1f} min in this process")

    from skills.library import SkillLibrary
    from skills.metrics import coverage, skill_metrics

    lib = SkillLibrary.load(a.run_dir)
    env = lib.make_env(seed=1_000_000)
    dt = env.unwrapped.dt
    rollouts = [lib.rollout(z, env=env) for z in range(lib.n_skills) for _ in range(a.episodes)]
    print(f"\n{'skill':>5} {'steps':>5} {'x-velocity m/s':>15} {'final position':>22} {'accuracy':>9}")
    velocities = []
    for r in rollouts:
        x = r.positions[:, 0]
        v = (x[-1] - x[0]) / (len(r.actions) * dt)
        velocities.append(v)
        final, acc = np.array2string(r.positions[-1], precision=2), (r.predicted == r.skill).mean()
        print(f"{r.skill:>5} {len(r.actions):>5} {v:>15.2f} {final:>22} {acc:>9.2f}")
    m = skill_metrics(rollouts, lib.n_skills)
    v = np.array(velocities)
    positions = np.concatenate([r.positions for r in rollouts])
    cov = coverage(positions)
    rnd = random_coverage(lib.env_name, len(rollouts), seed=1_000_000)
    feature = lib.method.cfg.feature or "obs"
    print(f"\n{lib.env_name}, {lib.n_skills} skills, feature {feature}, {a.steps} steps")
    print(f"held-out accuracy {m['eval/disc_accuracy']:.3f}; skills running forward (> 1 m/s): "
          f"{(v > 1).sum()}, backward (< -1 m/s): {(v < -1).sum()}; x-velocity from {v.min():.2f} "
          f"to {v.max():.2f} m/s")
    print(f"coverage {cov} cells of 1 m vs a random policy's {rnd} over {len(rollouts)} episodes "
          f"({cov / max(rnd, 1):.1f}x)")


if __name__ == "__main__":
    main_or_exit(main)
