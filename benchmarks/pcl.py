"""Deep Path Consistency Learning (agents/pcl.py) on CartPole-v1.

What is measured: PCL with DeepPCLConfig's defaults (or the fields given as --set NAME=VALUE)
for each --seeds seed; after training, the mean return of 20 episodes of the stochastic policy
(PCL's policy is the soft-optimal, stochastic one), the last updates' consistency error and
entropy, and the wall time. The target is a mean >= 475 over 3 seeds within the stated budget
of env steps. The learning curves (the fresh episodes' return per env step, the mean over
seeds, and the mean |C|) are drawn into --out.

The paper's algorithmic tasks (Copy, DuplicatedInput, ...) are not measured: the package that
has them, gym-algorithmic, targets the old `gym` and does not install beside Gymnasium 1.x, and
Gymnasium dropped those envs.

    python benchmarks/pcl.py --seeds 0 1 2 --out /tmp/pcl.png
"""

from __future__ import annotations

import ast
import dataclasses
import time
from pathlib import Path

import gymnasium as gym
import pandas as pd
import torch
from _common import count, non_negative
from matplotlib.figure import Figure

from agents.pcl import DeepPCLConfig, train_pcl
from agents.pg import evaluate_policy
from analysis.plots import save_figure
from run import OneLineParser


def run(seed: int, cfg: DeepPCLConfig, episodes: int) -> tuple[pd.DataFrame, dict]:
    curve = []
    t0 = time.perf_counter()
    policy = train_pcl(gym.make("CartPole-v1"), cfg, seed,
                       on_update=lambda steps, m: curve.append({"step": steps, **m}))
    seconds = time.perf_counter() - t0
    curve = pd.DataFrame(curve)
    last = curve.tail(20).mean()
    row = {"seed": seed, "eval_return": evaluate_policy(gym.make("CartPole-v1"), policy, episodes,
                                                        seed=10_000 + seed),
           "train_return_last20": last["train/episode_return"], "consistency": last["train/consistency"],
           "entropy": last["train/entropy"], "train_s": seconds}
    return curve.assign(seed=seed), row


def draw(curves: pd.DataFrame, out: Path) -> Path:
    fig = Figure(layout="constrained", figsize=(10, 4))
    ax_r, ax_c = fig.subplots(1, 2)
    for seed, group in curves.groupby("seed"):
        smooth = group.set_index("step").rolling(20, min_periods=1).mean()
        ax_r.plot(smooth.index, smooth["train/episode_return"], label=f"seed {seed}")
        ax_c.plot(smooth.index, smooth["train/consistency"], label=f"seed {seed}")
    ax_r.set(xlabel="env step", ylabel="episode return (20-update mean)", title="CartPole-v1, PCL")
    ax_c.set(xlabel="env step", ylabel="mean |C| per update", yscale="log", title="consistency error")
    ax_r.legend()
    return save_figure(fig, out)


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2])
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a DeepPCLConfig field, e.g. --set alpha=0.05 (repeatable)")
    p.add_argument("--eval-episodes", type=count, default=20)
    p.add_argument("--out", type=Path, default=Path("pcl.png"))
    a = p.parse_args()
    torch.set_num_threads(1)
    try:
        fields = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in a.set)}
        cfg = dataclasses.replace(DeepPCLConfig(), **fields)
    except (ValueError, SyntaxError, TypeError) as e:
        p.error(f"--set takes NAME=VALUE with NAME a DeepPCLConfig field: {e}")
    print(f"CartPole-v1, {cfg}; {a.eval_episodes} stochastic evaluation episodes", flush=True)
    curves, rows = [], []
    for seed in a.seeds:
        curve, row = run(seed, cfg, a.eval_episodes)
        curves.append(curve)
        rows.append(row)
        print(", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"mean eval return {table['eval_return'].mean():.1f} over {len(table)} seeds "
          f"(min {table['eval_return'].min():.1f}); target >= 475")
    print(f"figure: {draw(pd.concat(curves), a.out)}")


if __name__ == "__main__":
    main()
