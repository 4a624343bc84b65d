"""The deep maximum-entropy policy gradient (agents/pg.py) on CartPole-v1, and its temperature.

What is measured: REINFORCE on the soft return with a value baseline, PGConfig's defaults
(5000 env steps per update, 60 updates: 300k steps), for every --alphas value and every --seeds
seed; after training, the mean return of 20 episodes of the stochastic policy (the maxent
policy is the stochastic one) and its entropy. The target is a mean >= 475 over 3 seeds at the
default alpha; the other alphas show the notes' trade-off between reward and entropy. The
learning curves (batch return and policy entropy per update, the mean over seeds) are drawn
into --out.

    python benchmarks/maxent_pg.py --seeds 0 1 2 --alphas 0 0.01 0.1 1 --out /tmp/maxent_pg.png

On CartPole the entropy bonus is earned only while the pole is up, so even a large alpha keeps
the agent balancing; `--env Acrobot-v1`, where every step costs -1 until the swing-up ends the
episode, sets reward against entropy and shows the large-alpha end (a uniform policy).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
from _common import count, non_negative, non_negative_float
from matplotlib.figure import Figure

from agents.pg import PGConfig, evaluate_policy, train_maxent_pg
from analysis.plots import save_figure
from run import OneLineParser


def run(env_name: str, alpha: float, seed: int, cfg: PGConfig, episodes: int) -> tuple[pd.DataFrame, dict]:
    curve = []
    t0 = time.perf_counter()
    policy = train_maxent_pg(gym.make(env_name), dataclasses.replace(cfg, alpha=alpha), seed,
                             on_iteration=lambda i, m: curve.append({"iteration": i + 1, **m}))
    seconds = time.perf_counter() - t0
    score = evaluate_policy(gym.make(env_name), policy, episodes, seed=10_000 + seed)
    row = {"alpha": alpha, "seed": seed, "eval_return": score,
           "final_entropy": curve[-1]["train/entropy"], "train_s": seconds}
    return pd.DataFrame(curve).assign(alpha=alpha, seed=seed), row


def draw(curves: pd.DataFrame, out: Path, env_name: str) -> Path:
    fig = Figure(layout="constrained", figsize=(10, 4))
    ax_r, ax_h = fig.subplots(1, 2)
    for alpha, group in curves.groupby("alpha"):
        mean = group.groupby("iteration")[["train/episode_return", "train/entropy"]].mean()
        ax_r.plot(mean.index, mean["train/episode_return"], label=f"alpha {alpha:g}")
        ax_h.plot(mean.index, mean["train/entropy"], label=f"alpha {alpha:g}")
    ax_r.set(xlabel="update", ylabel="batch mean episode return", title=f"{env_name} return")
    space = gym.make(env_name).action_space
    uniform = f" (uniform: {np.log(space.n):.3f})" if isinstance(space, gym.spaces.Discrete) else ""
    ax_h.set(xlabel="update", ylabel="policy entropy (nats)", title=f"entropy{uniform}")
    ax_r.legend()
    return save_figure(fig, out)


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="CartPole-v1", help="a Gymnasium env with Box observations")
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2])
    p.add_argument("--alphas", type=non_negative_float, nargs="+", default=[0.0, PGConfig.alpha, 0.1, 1.0])
    p.add_argument("--iterations", type=count, default=PGConfig.iterations)
    p.add_argument("--batch-steps", type=count, default=PGConfig.batch_steps)
    p.add_argument("--eval-episodes", type=count, default=20)
    p.add_argument("--out", type=Path, default=Path("maxent_pg.png"))
    a = p.parse_args()
    torch.set_num_threads(1)
    cfg = PGConfig(iterations=a.iterations, batch_steps=a.batch_steps)
    print(f"{a.env}, {cfg.iterations} updates of {cfg.batch_steps} steps, lr {cfg.lr}, "
          f"hidden {cfg.hidden}; {a.eval_episodes} stochastic evaluation episodes", flush=True)
    curves, rows = [], []
    for alpha in a.alphas:
        for seed in a.seeds:
            curve, row = run(a.env, alpha, seed, cfg, a.eval_episodes)
            curves.append(curve)
            rows.append(row)
            print(f"alpha {alpha:g} seed {seed}: eval return {row['eval_return']:.1f}, entropy "
                  f"{row['final_entropy']:.3f}, {row['train_s']:.0f} s", flush=True)
    table = pd.DataFrame(rows).groupby("alpha").agg(
        eval_mean=("eval_return", "mean"), eval_min=("eval_return", "min"),
        entropy=("final_entropy", "mean"), seeds=("seed", "count"))
    print(table.to_string(float_format=lambda x: f"{x:.3f}"))
    print(f"figure: {draw(pd.concat(curves), a.out, a.env)}")


if __name__ == "__main__":
    main()
