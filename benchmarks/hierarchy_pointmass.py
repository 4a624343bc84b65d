"""Hierarchy vs flat SAC on PointMassGoal-v0 at equal env steps, over seeds.

For each seed: pretrain 8 skills on PointMass-v0 (their steps are not counted: the skills are
task-agnostic and reused by every task), then train on the task for --steps env steps a soft
Q-learning controller over the skills (k steps per choice) and, separately, SAC from scratch.
Prints the eval return of both at each evaluation and the first step at which each reaches the
goal-reaching return threshold (the return of a policy that gets within 1 m of the goal quickly).

    python benchmarks/hierarchy_pointmass.py --seeds 0 1 2 --steps 10000
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _common import metrics, run


def first_reaching(df: pd.DataFrame, threshold: float) -> float:
    evals = df.dropna(subset=["eval/return"])
    hit = evals[evals["eval/return"] >= threshold]
    return float(hit["step"].iloc[0]) if len(hit) else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--pretrain-steps", type=int, default=20_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threshold", type=float, default=-150.0)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    common = ["--total-steps", str(a.steps), "--eval-every", "1000", "--eval-episodes", "5",
              "--no-progress", "--threads", str(a.threads)]
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in a.seeds:
            skills, hier, flat = (Path(tmp) / f"{n}{seed}" for n in ("skills", "hier", "flat"))
            run(["pretrain", "--run-dir", str(skills), "--seed", str(seed), "--no-visualize",
                 "--total-steps", str(a.pretrain_steps), "--no-progress", "--threads", str(a.threads)])
            run(["hierarchy", "--skills-from", str(skills), "--task", "PointMassGoal-v0", "--steps-per-skill",
                 str(a.k), "--learning-starts", "500", "--run-dir", str(hier), "--seed", str(seed), *common])
            run(["train", "--env", "PointMassGoal-v0", "--learning-starts", "1000", "--run-dir", str(flat),
                 "--seed", str(seed), *common])
            for name, d in (("hierarchy", hier), ("flat SAC", flat)):
                df = metrics(d)
                ev = df.dropna(subset=["eval/return"])
                table.append((seed, name, first_reaching(df, a.threshold), ev["eval/return"].iloc[-1]))
                curve = " ".join(f"{r:.0f}" for r in ev["eval/return"])
                print(f"seed {seed} {name:9s}: eval return every 1000 steps: {curve}", flush=True)
    df = pd.DataFrame(table, columns=["seed", "method", "first_step_at_threshold", "final_return"])
    print(df.to_string(index=False))
    for name, g in df.groupby("method"):
        print(f"{name}: first step with return >= {a.threshold}: "
              f"{np.nanmean(g['first_step_at_threshold']):.0f} (seeds reaching: "
              f"{g['first_step_at_threshold'].notna().sum()}/{len(g)}), final return "
              f"{g['final_return'].mean():.1f} +- {g['final_return'].std():.1f}")


if __name__ == "__main__":
    main()
