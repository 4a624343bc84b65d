"""The DIAYN paper's Ant navigation (Sec. 4.2.2): a controller over x-y skills against flat SAC
on AntWaypoints-v0 (5 waypoints of a 4 m square in order, +1 each, gear-30 Ant).

Skills are pretrained on AntLowGear-v0 (the same robot without waypoints) from
`--skills-config` (default configs/skills_ant_lowgear.json: 20 skills, the centre of mass's x-y
velocity as the discriminator's feature, the skill redrawn every 100 steps so that skills learn
to start from each other's states). Then, per seed, the soft Q-learning controller from
`--config` (default configs/ant_waypoints.json: a skill every k = 100 steps, chosen from the
waypoint relative to the torso and the skill that ran last, every skill also turned by quarter
turns), and SAC from scratch. Target: the hierarchy reaches >= 3 of 5 waypoints on average where
flat SAC scores about 0. Before training, it prints where each skill goes in one choice and what
a controller choosing uniformly at random reaches: the sparse +1 must be found by chance first.

The setting that met the target (RESULTS.md), both config files as they are:

    python benchmarks/hierarchy_ant.py --out /tmp/bench/antnav --flat-steps 0 --seeds 0 1 2 3 4 --jobs 2

Runs live in --out (skills, hier-sSEED, flat-sSEED) and are kept: a finished run is only read
back and a stopped one resumed, so this long benchmark can be run in pieces.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from _common import count, non_negative
from _hierarchy import controller_evaluation, evaluations, pretrain_skills, train_runs

from run import OneLineParser

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def skill_reach(skills: Path, k: int, episodes: int, rotations: int = 1,
                seed: int = 1_000_000) -> None:
    """Print where each skill takes the ant in one decision (k steps from the start) and the
    waypoints a controller choosing skills uniformly at random reaches: the first waypoint lies
    4 m east within 0.5 m, so a controller that never sees a +1 has nothing to learn from."""
    import numpy as np

    from agents.loop import evaluate_returns
    from envs.registry import make_env
    from envs.skill_env import SkillEnv
    from skills.library import SkillLibrary
    from skills.symmetry import RotatedSkills

    lib = SkillLibrary.load(skills)
    env = SkillEnv(make_env("AntWaypoints-v0"), RotatedSkills(lib, rotations), k)
    robot = env.task_env.unwrapped
    # A controller starts most skills where another left the ant: replay two seeded random
    # choices (skills and MuJoCo are deterministic), then run z, from `mid` such states.
    mid, pick = 5, np.random.default_rng(seed).integers(lib.n_skills, size=(5, 2))
    for z in range(lib.n_skills):
        env.reset(seed=seed)
        env.step(z)
        x, y = robot.data.qpos[:2]
        moves = []
        for i, before in enumerate(pick):
            env.reset(seed=seed + 1 + i)
            for b in before:
                env.step(int(b))
            start = robot.data.qpos[:2].copy()
            env.step(z)
            moves.append(robot.data.qpos[:2] - start)
        moves = np.asarray(moves)
        turns = np.degrees(np.arctan2(moves[:, 1], moves[:, 0]))
        print(f"skill {z}: after {k} steps at ({x:+.1f}, {y:+.1f}) m, heading "
              f"{np.degrees(np.arctan2(y, x)):+.0f} deg; after two other choices: "
              f"{np.median(np.linalg.norm(moves, axis=1)):.1f} m (median of {mid}), heading "
              + " ".join(f"{t:+.0f}" for t in turns), flush=True)
    rng = np.random.default_rng(seed)
    n = env.action_space.n  # the K skills, each at `rotations` headings
    r = evaluate_returns(env, lambda obs, _: int(rng.integers(n)), episodes, seed=seed)
    print(f"skills chosen uniformly at random ({n}): {r['eval/return']:.2f} +- {r['eval/return_std']:.2f} "
          f"waypoints over {episodes} episodes", flush=True)
    if r["eval/return"] == 0:
        # Measured: two skill sets with no walker heading east gave 0 here; on one the controllers
        # saw no +1 in 500k steps, on the other they found a zig-zag to 1-2 waypoints by 2M
        # (benchmarks/RESULTS.md). Pretrain with another --seed or feature.
        print("warning: random skill choices never reach a waypoint; the controller may never "
              "see a reward with these skills (see which direction above has no walker)", flush=True)


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2])
    p.add_argument("--config", default=str(CONFIGS / "ant_waypoints.json"),
                   help="the hierarchy's config file (its controller, k, input, budget)")
    p.add_argument("--skills-config", default=str(CONFIGS / "skills_ant_lowgear.json"),
                   help="the skills' pretraining config file")
    p.add_argument("--steps", type=count, default=None, help="robot steps of the hierarchy "
                   "(default: the config's)")
    p.add_argument("--pretrain-steps", type=count, default=None,
                   help="robot steps of the skills' pretraining (default: the config's)")
    p.add_argument("--flat-steps", type=non_negative, default=None,
                   help="env steps of flat SAC (default: --steps; it runs ~20x slower per step; 0: "
                        "none, its runs do not depend on the skills)")
    p.add_argument("--jobs", type=count, default=1,
                   help="runs trained at once, one process each (one per core)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--random-episodes", type=count, default=20,
                   help="episodes of a controller choosing skills uniformly at random")
    p.add_argument("--final-episodes", type=count, default=20,
                   help="greedy episodes of each trained controller, after training")
    a = p.parse_args()
    from cli.configs import read_file

    hier_cfg = read_file(a.config, "hierarchy")
    steps = a.steps or hier_cfg.loop.total_steps
    skills = pretrain_skills(a.out, a.skills_config, a.pretrain_steps, a.threads)
    skill_reach(skills, hier_cfg.steps_per_skill, a.random_episodes, hier_cfg.skill_rotations)
    flat_steps = steps if a.flat_steps is None else a.flat_steps
    train_runs(a.out, skills, a.config, a.seeds, steps, flat_steps, a.jobs, a.threads)
    rows = []
    for seed in a.seeds:
        runs = [("hierarchy", a.out / f"hier-s{seed}")]
        runs += [("flat SAC", a.out / f"flat-s{seed}")] if flat_steps > 0 else []
        for name, d in runs:
            ev = evaluations(d, "eval/return")
            rows.append((name, seed, ev["eval/return"].iloc[-1]))
            rows.append((f"{name}, mean of the last ten evaluations", seed,
                         ev["eval/return"].iloc[-10:].mean()))
            curve = " ".join(f"{r:.1f}" for r in ev["eval/return"])
            print(f"seed {seed} {name:9s}: waypoints reached, from step 0 to {ev['step'].iloc[-1]} "
                  f"every {ev['step'].iloc[-1] // (len(ev) - 1)}: {curve}", flush=True)
    for seed in a.seeds:
        ret = controller_evaluation(a.out / f"hier-s{seed}", a.final_episodes)["eval/return"]
        rows.append((f"hierarchy, final controller over {a.final_episodes} episodes", seed, ret))
        print(f"seed {seed} hierarchy: the final controller, greedy, reaches {ret:.2f} waypoints "
              f"over {a.final_episodes} episodes", flush=True)
    df = pd.DataFrame(rows, columns=["method", "seed", "waypoints"])
    for name, g in df.groupby("method", sort=False):
        print(f"{name}: {g['waypoints'].mean():.2f} +- {g['waypoints'].std():.2f} of 5 waypoints "
              f"over {len(g)} seeds (target for the hierarchy: >= 3, flat SAC about 0)")
    if flat_steps == 0:
        print("(flat SAC not run: --flat-steps 0; it does not depend on the skills)")
    elif flat_steps != steps:
        print(f"(flat SAC ran {flat_steps} steps, the hierarchy {steps})")


if __name__ == "__main__":
    main()
