"""DIAYN, DIAYN with the position prior, LSD and METRA side by side on the same robots, at equal
robot steps, each from its config file in configs/discovery/, every run through `run.py sweep`.

For each robot and method: --seeds pretraining runs; then, per run, --rollouts deterministic
rollouts (each of K discrete skills in turn; random unit z for continuous skills, seeded) to
measure
- coverage: distinct 1 m x 1 m cells of the torso's x-y (x for the cheetah) visited, the METRA
  code's MjNumUniqueCoords, against a uniformly random policy's over as many episodes;
- the largest distance any rollout's torso gets from where it started;
- for continuous skills with a phi (LSD, METRA on Ant), zero-shot goal reaching
  (benchmarks/goals.py): goals in a 7.5 m disc, reached within 1 m.
Targets (Ant-v5): METRA's coverage >= 2x DIAYN's on the full observation, and goal success >= 50%.

    python benchmarks/discovery.py --robots ant cheetah --seeds 0 1 --out DIR --max-concurrent 2 \
        [--readme README.md]

The configs take one update per 16 environment steps (`train_freq`), as the goal-reaching
setting does: 1.2M Ant steps (about 25-30 min a run at one thread), 2M HalfCheetah steps
(30-45 min; at 400k no method's skills run yet). Runs resume: the same command after a stop
continues the sweeps and skips finished runs; --no-train only measures the runs that are
finished, and each run's measurement is kept in RUN/discovery.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from _common import count, main_or_exit, non_negative, random_coverage, write_readme  # noqa: E402
from goals import goal_success  # noqa: E402

from cli.sweep import trial_status  # noqa: E402
from run import OneLineParser  # noqa: E402

ROBOTS = {"ant": "Ant-v5", "cheetah": "HalfCheetah-v5"}
METHODS = ("diayn", "diayn_prior", "lsd", "metra")
LABELS = {"diayn": "DIAYN (v5 observation)", "diayn_prior": "DIAYN + position prior",
          "lsd": "LSD", "metra": "METRA"}


def measure(run_dir: Path, rollouts: int, seed: int, goals: int) -> dict:
    from cli.configs import read_run
    from skills.library import SkillLibrary
    from skills.metra import unit_vector
    from skills.metrics import coverage

    lib = SkillLibrary.load(run_dir)
    # Every method's rollouts last the env's own time limit (1000 steps), whatever episode
    # length it trained with, so that coverage compares like with like (the random policy's too).
    env = lib.make_env(seed, max_episode_steps=gym.spec(lib.env_name).max_episode_steps)
    rng = np.random.default_rng(seed)
    if lib.continuous_dim:
        skills = [unit_vector(rng.standard_normal(lib.continuous_dim)) for _ in range(rollouts)]
    else:
        skills = [i % lib.n_skills for i in range(rollouts)]
    paths = [lib.rollout(z, env=env, seed=seed + i).positions for i, z in enumerate(skills)]
    out = {"steps": read_run(run_dir, "pretrain").loop.total_steps,
           "coverage": coverage(np.concatenate(paths)),
           "max_distance": max(float(np.linalg.norm(p - p[0], axis=1).max()) for p in paths)}
    if lib.continuous_dim and getattr(lib.method.cfg, "feature", None) == "xy" and goals:
        out["goal_success"], _ = goal_success(lib, goals, 7.5, seed=seed)
    return out


def measured(run_dir: Path, rollouts: int, seed: int, goals: int) -> dict:
    """`measure`, kept in RUN/discovery.json: a table redrawn from the same finished runs (another
    robot added, a README rewritten) reuses each run's rollouts instead of repeating them; a run
    trained on, or measured with other settings, is measured again."""
    from cli.configs import read_run

    key = {"rollouts": rollouts, "seed": seed, "goals": goals,
           "steps": read_run(run_dir, "pretrain").loop.total_steps}
    path = run_dir / "discovery.json"
    try:
        saved = json.loads(path.read_text())
        if saved["settings"] == key:
            return saved["result"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    result = measure(run_dir, rollouts, seed, goals)
    path.write_text(json.dumps({"settings": key, "result": result}, indent=2) + "\n")
    return result


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--robots", nargs="+", choices=list(ROBOTS), default=list(ROBOTS))
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=count, default=None, help="robot steps per run (default: the configs')")
    p.add_argument("--rollouts", type=count, default=16)
    p.add_argument("--goals", type=count, default=50)
    p.add_argument("--max-concurrent", type=count, default=None)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--no-train", action="store_true",
                   help="measure the finished runs under --out without starting or resuming any")
    p.add_argument("--more-runs", type=Path, nargs="+", default=[], metavar="DIR",
                   help="finished runs laid out as under --out (e.g. copies continued to more "
                        "steps) to measure beside them, never trained; a table row per step count")
    p.add_argument("--readme", type=Path, default=None,
                   help="also write the table between the README's discovery table markers")
    a = p.parse_args()
    for d in a.more_runs:
        if not d.is_dir():
            p.error(f"--more-runs {d}: no such directory (give run dirs laid out as OUT/ROBOT/METHOD/sS)")
    if a.no_train and not a.out.is_dir():
        p.error(f"--out {a.out}: no such directory; drop --no-train to train the runs there")
    rows = []
    for robot in a.robots:
        rand = random_coverage(ROBOTS[robot], a.rollouts, seed=0)
        for method in a.methods:
            out = a.out / robot / method
            cmd = [sys.executable, str(ROOT / "run.py"), "sweep", "pretrain", "--config",
                   str(ROOT / "configs" / "discovery" / f"{robot}_{method}.json"), "--no-visualize",
                   "--seeds", *map(str, a.seeds), "--out", str(out)]
            cmd += ["--total-steps", str(a.steps)] if a.steps else []
            cmd += ["--max-concurrent", str(a.max_concurrent)] if a.max_concurrent else []
            if not a.no_train:
                print("$", " ".join(cmd[1:]), flush=True)
                subprocess.run(cmd)
            for root in [a.out, *a.more_runs]:
                for s in a.seeds:
                    run = root / robot / method / f"s{s}"
                    if (trial_status(run) or {}).get("status") != "done":
                        if root == a.out:
                            print(f"{robot} {method} seed {s}: not finished, left out", flush=True)
                        continue
                    m = measured(run, a.rollouts, seed=100 + s, goals=a.goals)
                    rows.append({"robot": robot, "method": method, "seed": s, **m, "random": rand})
                    print(f"{run}: {m} (random policy's coverage {rand})", flush=True)
    if not rows:
        # An empty table would also wipe the README's.
        p.error(f"no finished run of {', '.join(a.robots)} x {', '.join(a.methods)} x seeds "
                f"{' '.join(map(str, a.seeds))} under {', '.join(map(str, [a.out, *a.more_runs]))}: "
                "nothing to measure")
    lines = ["| robot | method | steps | runs | coverage (1 m cells) | x random | largest distance (m) | "
             "goals reached |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for robot in a.robots:
        for steps in sorted({r["steps"] for r in rows if r["robot"] == robot}):
            for method in a.methods:
                rs = [r for r in rows if (r["robot"], r["method"], r["steps"]) == (robot, method, steps)]
                if not rs:
                    continue
                cov = np.mean([r["coverage"] for r in rs])
                goal = [r["goal_success"] for r in rs if "goal_success" in r]
                lines.append(f"| {ROBOTS[robot]} | {LABELS[method]} | {steps // 1000}k | {len(rs)} | "
                             f"{cov:.1f} | {cov / rs[0]['random']:.1f}x | "
                             f"{np.mean([r['max_distance'] for r in rs]):.1f} | "
                             f"{f'{np.mean(goal):.0%}' if goal else 'n.a.'} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if a.readme:
        write_readme(a.readme, "discovery", text)


if __name__ == "__main__":
    main_or_exit(main)
