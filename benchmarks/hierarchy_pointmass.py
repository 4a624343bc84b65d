"""Hierarchy vs flat SAC on the PointMass goal tasks at equal env steps, over seeds.

For each seed: pretrain 8 skills on PointMass-v0 (their steps are not counted: the skills are
task-agnostic and reused by every task), then, on each task, train for --steps env steps a soft
Q-learning controller over the skills (k steps per choice) and, separately, SAC from scratch.
Prints the eval return of both at each evaluation and the first step at which each reaches the
task's threshold:

- PointMassGoalSparse-v0 (+1 and the episode ends within 0.5 m of the goal): the eval return is
  the fraction of evaluation episodes that reach the goal; threshold 0.8 (4 of 5).
- PointMassGoal-v0 (minus the distance at every step): threshold -150, the return of a policy
  that gets within ~1 m of the goal quickly.

    python benchmarks/hierarchy_pointmass.py --seeds 0 1 2 --steps 10000
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _common import count, metrics, non_negative, run

from run import OneLineParser

THRESHOLDS = {"PointMassGoalSparse-v0": 0.8, "PointMassGoal-v0": -150.0}


def first_reaching(df: pd.DataFrame, threshold: float) -> float:
    evals = df.dropna(subset=["eval/return"])
    hit = evals[evals["eval/return"] >= threshold]
    return float(hit["step"].iloc[0]) if len(hit) else float("nan")


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2])
    p.add_argument("--tasks", nargs="+", default=list(THRESHOLDS), choices=list(THRESHOLDS))
    p.add_argument("--steps", type=count, default=10_000)
    p.add_argument("--pretrain-steps", type=count, default=20_000)
    p.add_argument("--k", type=count, default=10)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    common = ["--total-steps", str(a.steps), "--eval-every", "1000", "--eval-episodes", "5",
              "--no-progress", "--threads", str(a.threads)]
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in a.seeds:
            skills = Path(tmp) / f"skills{seed}"
            run(["pretrain", "--run-dir", str(skills), "--seed", str(seed), "--no-visualize",
                 "--total-steps", str(a.pretrain_steps), "--no-progress", "--threads", str(a.threads)])
            for task in a.tasks:
                hier, flat = Path(tmp) / f"hier-{task}-{seed}", Path(tmp) / f"flat-{task}-{seed}"
                run(["hierarchy", "--skills-from", str(skills), "--task", task, "--steps-per-skill",
                     str(a.k), "--learning-starts", "500", "--run-dir", str(hier), "--seed", str(seed),
                     *common])
                run(["train", "--env", task, "--learning-starts", "1000", "--run-dir", str(flat),
                     "--seed", str(seed), *common])
                for name, d in (("hierarchy", hier), ("flat SAC", flat)):
                    df = metrics(d)
                    ev = df.dropna(subset=["eval/return"])
                    first = first_reaching(df, THRESHOLDS[task])
                    table.append((task, seed, name, first, ev["eval/return"].iloc[-1]))
                    curve = " ".join(f"{r:.4g}" for r in ev["eval/return"])
                    print(f"{task} seed {seed} {name:9s}: eval return every 1000 steps: {curve}", flush=True)
    df = pd.DataFrame(table, columns=["task", "seed", "method", "first_step_at_threshold", "final_return"])
    print(df.to_string(index=False))
    for (task, name), g in df.groupby(["task", "method"], sort=False):
        reached = g["first_step_at_threshold"]
        mean_step = f"{np.nanmean(reached):.0f}" if reached.notna().any() else "never"
        print(f"{task} {name}: first step with eval return >= {THRESHOLDS[task]}: mean {mean_step} "
              f"over the seeds reaching it ({reached.notna().sum()}/{len(g)}), final return "
              f"{g['final_return'].mean():.4g} +- {g['final_return'].std():.2g}")


if __name__ == "__main__":
    main()
