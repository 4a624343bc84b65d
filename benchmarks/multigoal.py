"""Soft Q-learning against SAC on the multi-goal point of Haarnoja et al. 2017 (1702.08165, Fig. 1):
how many of the four goals each policy reaches from the origin.

What is measured: SQL (agents/sql.py) and SAC (agents/sac.py) train on MultiGoal-v0 through the
same off-policy loop for --steps env steps, with the same hidden sizes, learning rates, batch,
warm-up, discount and target averaging, and the same fixed temperature --alpha (the same
maximum-entropy objective: only the policy class differs, an amortized SVGD sampler against a
tanh-Gaussian). Then 100 stochastic rollouts of each from the origin, counted by the goal they
end in, and drawn side by side (--out).

Why: the paper's claim is that an energy-based policy keeps every good option, where a unimodal
policy commits to some. The target for SQL is all four goals, each in >= 10 of 100 rollouts.

    python benchmarks/multigoal.py --steps 30000 --seed 0 --out /tmp/multigoal.png
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import count, non_negative, positive
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from agents.loop import LoopConfig, OffPolicyLoop
from agents.sac import SAC, SACConfig
from agents.sql import SoftQLearning, SQLConfig
from analysis.plots import save_figure
from envs.multigoal import GOAL_RADIUS, GOALS, rollouts
from envs.registry import make_env
from run import OneLineParser

GOAL_NAMES = ("+x", "-x", "+y", "-y")


def train(agent, steps: int, seed: int) -> float:
    """Train `agent` on MultiGoal-v0 for `steps` steps; the wall time in seconds."""
    env = make_env("MultiGoal-v0", seed=seed)
    cfg = LoopConfig(total_steps=steps, eval_every=steps, seed=seed, progress=False)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        # No evaluation during training: the rollouts after it are the measurement.
        OffPolicyLoop(cfg, env, agent, lambda policy: {}, run_dir).run()
    return time.perf_counter() - t0


def draw(results: dict[str, tuple[list[np.ndarray], np.ndarray]], out: Path) -> Path:
    fig = Figure(layout="constrained", figsize=(5.0 * len(results), 5.4))
    for ax, (name, (paths, goals)) in zip(fig.subplots(1, len(results), squeeze=False)[0], results.items()):
        for path in paths:
            ax.plot(path[:, 0], path[:, 1], color="tab:blue", lw=0.8, alpha=0.5)
        for g in GOALS:
            ax.add_patch(Circle(g, GOAL_RADIUS, facecolor="tab:green", alpha=0.3, edgecolor="tab:green"))
        ax.plot(0, 0, "ko", ms=4)
        counts = np.bincount(goals[goals >= 0], minlength=4)
        ax.set_title(f"{name}: goals {' '.join(f'{n} {c}' for n, c in zip(GOAL_NAMES, counts))}")
        ax.set_xlim(-7, 7)
        ax.set_ylim(-7, 7)
        ax.set_aspect("equal")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    return save_figure(fig, out)


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=count, default=30_000)
    p.add_argument("--seed", type=non_negative, default=0)
    p.add_argument("--alpha", type=positive, default=SQLConfig.alpha, help="temperature of both")
    p.add_argument("--hidden", type=int, nargs="+", default=list(SQLConfig.hidden))
    p.add_argument("--rollouts", type=count, default=100)
    p.add_argument("--out", type=Path, default=Path("multigoal.png"))
    a = p.parse_args()
    torch.set_num_threads(1)
    sql_cfg = SQLConfig(hidden=tuple(a.hidden), alpha=a.alpha)
    sac_cfg = SACConfig(hidden=sql_cfg.hidden, alpha=a.alpha, actor_lr=sql_cfg.policy_lr,
                        critic_lr=sql_cfg.q_lr, gamma=sql_cfg.gamma, tau=sql_cfg.tau,
                        batch_size=sql_cfg.batch_size, learning_starts=sql_cfg.learning_starts)
    agents = {"SQL": lambda: SoftQLearning(2, 2, sql_cfg), "SAC": lambda: SAC(2, 2, sac_cfg)}
    print(f"MultiGoal-v0, {a.steps} steps, seed {a.seed}, alpha {a.alpha}, hidden {sql_cfg.hidden}; "
          f"{a.rollouts} stochastic rollouts from the origin", flush=True)
    results = {}
    for name, build in agents.items():
        torch.manual_seed(a.seed)  # the loop seeds torch only when it runs, after the weights exist
        agent = build()
        seconds = train(agent, a.steps, a.seed)
        env = make_env("MultiGoal-v0", seed=a.seed + 10_000)
        paths, goals = rollouts(env, agent.act, a.rollouts)
        results[name] = (paths, goals)
        counts = np.bincount(goals + 1, minlength=5)  # index 0: no goal
        per_goal = "  ".join(f"{n}: {c:3d}" for n, c in zip(GOAL_NAMES, counts[1:]))
        print(f"{name}: {per_goal}  none: {counts[0]:3d}  goals with >= 10%: "
              f"{int((counts[1:] >= 0.1 * a.rollouts).sum())}/4  ({seconds:.0f} s)", flush=True)
    print(f"figure: {draw(results, a.out)}")


if __name__ == "__main__":
    main()
