"""Fine-tuning the best pretrained skill against SAC from scratch on HalfCheetah-v5 (DIAYN
Sec. 4.2.1): 50k steps each, over seeds, same network sizes. Target: fine-tuned >= scratch.

The skills come from a pretraining run (benchmarks/diayn_mujoco.py makes one: 10 skills, 300k
steps). `run.py finetune` rolls out every skill on the task's reward, logs their returns, and
continues SAC from the best skill's actor and critics; `--scratch` trains SAC with a fresh
initialisation on the same budget:

    python benchmarks/finetune_cheetah.py --skills-from /tmp/bench/cheetah --out /tmp/bench/ft

Runs live in --out as METHOD-sSEED and are kept: a finished run is only read back, a stopped
one resumed, so the methods can also be run apart (--methods scratch, then finetune).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from _common import count, finished, main_or_exit, metrics, non_negative, run

from run import OneLineParser


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--skills-from", type=Path, required=True, help="a pretraining run on HalfCheetah-v5")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--task", default="HalfCheetah-v5")
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=count, default=50_000)
    p.add_argument("--methods", nargs="+", default=["finetune", "scratch"], choices=["finetune", "scratch"])
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    for seed in a.seeds:
        for method in a.methods:
            d = a.out / f"{method}-s{seed}"
            if finished(d, a.steps):
                continue
            if (d / "config.json").exists():
                run(["finetune", "--resume", "--run-dir", str(d), "--no-progress",
                     "--threads", str(a.threads)])
                continue
            scratch = ["--scratch"] if method == "scratch" else []
            run(["finetune", "--skills-from", str(a.skills_from), "--task", a.task, "--total-steps",
                 str(a.steps), "--eval-every", str(a.steps // 10), "--seed", str(seed), "--run-dir", str(d),
                 "--no-progress", "--threads", str(a.threads), *scratch])
    rows = []
    for d in sorted(a.out.glob("*-s*")):
        if not finished(d, a.steps):
            continue
        method, seed = d.name.rsplit("-s", 1)
        ev = metrics(d).dropna(subset=["eval/return"])
        rows.append((method, int(seed), ev["eval/return"].iloc[0], ev["eval/return"].iloc[-1]))
        curve = " ".join(f"{r:.0f}" for r in ev["eval/return"])
        print(f"{method:8s} seed {seed}: eval return every {a.steps // 10} steps: {curve}")
        if method == "finetune" and (d / "skill_returns.csv").exists():
            sr = pd.read_csv(d / "skill_returns.csv")
            print("         task return of each skill: " + " ".join(f"{r:.0f}" for r in sr["task_return"]))
    df = pd.DataFrame(rows, columns=["method", "seed", "first_eval", "final_eval"])
    for method, g in df.groupby("method"):
        print(f"{method}: final eval return {g['final_eval'].mean():.1f} +- {g['final_eval'].std():.1f} "
              f"over {len(g)} seeds ({' '.join(f'{r:.1f}' for r in g['final_eval'])})")
    if set(df["method"]) == {"finetune", "scratch"}:
        means = df.groupby("method")["final_eval"].mean()
        print(f"fine-tuned - scratch: {means['finetune'] - means['scratch']:+.1f} "
              f"(target >= 0: {'met' if means['finetune'] >= means['scratch'] else 'not met'})")


if __name__ == "__main__":
    main_or_exit(main)
