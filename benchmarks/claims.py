"""The source notes' claims for maximum-entropy RL, each measured maxent against its standard
counterpart (same networks and budget) over seeds, every run through `run.py sweep`.

    python benchmarks/claims.py temperature   --out DIR [--seeds 0 1 2 3 4] [--steps 10000]
    python benchmarks/claims.py exploration   --out DIR [--seeds ...] [--steps N: both tasks]
    python benchmarks/claims.py multimodality --out DIR [--seeds ...] [--steps 30000]
    python benchmarks/claims.py robustness    --out DIR [--seeds ...] [--steps N: both robots]

- temperature (claim 4, alpha as the dial from reward maximisation to the uniform policy): SAC on
  Pendulum-v1 with alpha fixed at 0, 0.01, 0.1, 1 and learned; final return and policy entropy.
- exploration (claim 1): SAC against TD3 on PointMassGoalSparse-v0 (+1 within 0.5 m of a goal
  3.5 m away, nothing elsewhere; 20k steps) and HalfCheetahSparse-v0 (+1 a step beyond 5 m ahead;
  30k steps): the fraction of seeds whose training episodes find the reward, and the first step
  at which they do.
- multimodality (claim 3): soft Q-learning, SAC and TD3 on MultiGoal-v0, 100 stochastic rollouts
  of each final policy from the origin: goals reached in >= 10% of them; and in the two-routes
  corridor, the probability of each route under the soft-optimal and the greedy policy.
- robustness (claim 2): SAC, soft TD3 and TD3 trained on HalfCheetah-v5 (50k steps) and Hopper-v5
  (100k), their deterministic policies evaluated without retraining under body mass x0.5..x1.5,
  ground friction x0.5..x1.5 and Gaussian action noise.

Each writes DIR/CLAIM/ (the sweep's trials, its sweep.md and analysis/), a plot DIR/CLAIM.png
and the sentence for RESULTS.md, with the numbers, on stdout. Runs are resumed: run the same
command again after a stop and only unfinished trials run. --finished-only runs none and
measures the claim on the trials finished so far (point DIR at a copy or a link of the sweep's
directory to keep the full result's files apart).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

from _common import count, non_negative  # noqa: E402

from analysis.plots import save_figure  # noqa: E402
from analysis.runs import load_runs  # noqa: E402
from analysis.stats import bootstrap_ci  # noqa: E402
from run import OneLineParser  # noqa: E402

MAX_CONCURRENT: list[str] = []  # --max-concurrent N, passed on to every sweep
RUN_SWEEPS = [True]  # False with --finished-only


def sweep(out: Path, args: list[str]) -> None:
    """One `run.py sweep` (failed trials are reported by it and left out of the claims)."""
    if not RUN_SWEEPS[0]:
        return
    cmd = [sys.executable, str(ROOT / "run.py"), "sweep", *args, "--out", str(out), *MAX_CONCURRENT]
    print("$", " ".join(cmd[1:]), flush=True)
    code = subprocess.run(cmd).returncode
    if code not in (0, 1):
        raise SystemExit(f"run.py sweep exited {code}")


def trials(out: Path) -> dict[str, dict]:
    """{run dir name: {"grid", "seed", "dir"}} of the finished trials of the sweep in `out`."""
    if not (out / "sweep.json").is_file():
        print(f"error: no sweep in {out} (no sweep.json): run the claim without --finished-only "
              "first, or point --out at the directory that holds it", file=sys.stderr)
        raise SystemExit(2)
    spec = json.loads((out / "sweep.json").read_text())["trials"]
    done = {}
    for name, t in spec.items():
        status = out / name / "trial.json"
        if status.is_file() and json.loads(status.read_text())["status"] == "done":
            done[name] = dict(t, dir=out / name)
    return done


def ci(values) -> str:
    values = np.asarray(values, dtype=float)
    lo, hi = bootstrap_ci(values, 10_000, np.random.default_rng(0))
    return f"{values.mean():.3g} [{lo:.3g}, {hi:.3g}]"


def seeds_flag(seeds: list[int]) -> list[str]:
    return ["--seeds", *map(str, seeds)]


# ---------------------------------------------------------------- claim 4: the temperature


def temperature(out: Path, seeds: list[int], steps: int) -> None:
    d = out / "temperature"
    sweep(d, ["train", "--env", "Pendulum-v1", "--total-steps", str(steps), "--eval-episodes", "5",
              "--grid", "alpha=0,0.01,0.1,1,none", *seeds_flag(seeds)])
    df = load_runs(d)
    finals = df.sort_values("step").groupby(["run", "metric"]).tail(1)
    done = trials(d)
    rows = []
    for name, t in done.items():
        f = finals[finals["run"] == name].set_index("metric")["value"]
        # The policy's entropy, averaged over the last fifth of training (one window is noisy).
        ent = df[(df["run"] == name) & (df["metric"] == "train/entropy") & (df["step"] > 0.8 * steps)]
        rows.append({"alpha": str(t["grid"]["alpha"]), "return": f["eval/return"],
                     "entropy": ent["value"].mean()})
    table = pd.DataFrame(rows)
    order = ["0.0", "0.01", "0.1", "1.0", "None"]
    fig = _figure(2)
    lines = ["| alpha | final return | entropy (last 20%) | seeds |", "|---|---:|---:|---:|"]
    for a in order:
        g = table[table["alpha"] == a]
        if g.empty:
            continue
        label = "learned" if a == "None" else a
        lines.append(f"| {label} | {ci(g['return'])} | {ci(g['entropy'])} | {len(g)} |")
        for ax, col in zip(fig.axes, ("return", "entropy")):
            ax.errorbar([label], [g[col].mean()], yerr=[[g[col].mean() - g[col].min()],
                                                          [g[col].max() - g[col].mean()]], fmt="o")
    for ax, col in zip(fig.axes, ("final eval return", "policy entropy")):
        ax.set_xlabel("alpha")
        ax.set_title(f"{col} (mean, min-max over seeds)")
    print(f"figure: {save_figure(fig, out / 'temperature.png')}")
    print("\n".join(lines))


# ---------------------------------------------------------------- claim 1: exploration


# Sparse tasks and each one's budget: the point mass's goal 3.5 m away, and the cheetah paid only
# beyond 5 m ahead (random actions drift it backward). `--steps` sets both.
SPARSE_TASKS = {"PointMassGoalSparse-v0": 20_000, "HalfCheetahSparse-v0": 30_000}


def exploration(out: Path, seeds: list[int], steps: int | None) -> None:
    fig = _figure(len(SPARSE_TASKS))
    lines = ["| task | algorithm | seeds that found the reward | first found at step (mean over those) |",
             "|---|---|---:|---:|"]
    for ax, (task, default) in zip(fig.axes, SPARSE_TASKS.items()):
        n = steps or default
        # The point mass's trials keep the directory they were first run in.
        d = out / ("exploration" if task == "PointMassGoalSparse-v0" else f"exploration-{task}")
        sweep(d, ["train", "--env", task, "--total-steps", str(n),
                  "--log-every", "100", "--grid", "algo=sac,td3", *seeds_flag(seeds)])
        df = load_runs(d)
        done = trials(d)
        for algo in ("sac", "td3"):
            firsts = []
            for name, t in done.items():
                if t["grid"]["algo"] != algo:
                    continue
                r = df[(df["run"] == name) & (df["metric"] == "train/episode_return") & (df["value"] > 0)]
                firsts.append(int(r["step"].min()) if len(r) else None)
            found = sorted(f for f in firsts if f is not None)
            mean = f"{np.mean(found):.0f}" if found else "never"
            lines.append(f"| {task} | {algo} | {len(found)}/{len(firsts)} | {mean} |")
            xs = np.arange(0, n + 1, max(1, n // 100))
            ax.step(xs, [sum(f <= x for f in found) / max(1, len(firsts)) for x in xs],
                    where="post", label=algo)
        ax.set_title(task)
        ax.set_xlabel("env steps")
        ax.set_ylabel("fraction of seeds that found the reward")
        ax.legend()
    print(f"figure: {save_figure(fig, out / 'exploration.png')}")
    print("\n".join(lines))


# ---------------------------------------------------------------- claim 3: multimodality


def multimodality(out: Path, seeds: list[int], steps: int, rollouts_n: int = 100) -> None:
    import torch

    from agents.sql import SQLConfig
    from agents.tabular import (
        absorption_probabilities,
        soft_value_iteration,
        two_routes_world,
        value_iteration,
    )
    from analysis.policies import load_agent
    from envs.multigoal import rollouts

    d = out / "multimodality"
    sql = SQLConfig()
    # The same networks, learning rates, batch and warm-up for all three; the maxent two share
    # SQL's temperature (benchmarks/multigoal.py), TD3 has none.
    same = ["train", "--env", "MultiGoal-v0", "--total-steps", str(steps), "--eval-episodes", "10",
            "--hidden", *map(str, sql.hidden), "--batch-size", str(sql.batch_size),
            "--learning-starts", str(sql.learning_starts), *seeds_flag(seeds)]
    sweep(d, [*same, "--grid", "algo=sql,sac", "--alpha", str(sql.alpha), "--lr", str(sql.q_lr)])
    sweep(d, [*same, "--grid", "algo=td3", "--lr", str(sql.q_lr)])
    counts: dict[str, list[np.ndarray]] = {}
    for _, t in sorted(trials(d).items()):
        _, agent, env = load_agent(t["dir"])
        env.reset(seed=10_000 + t["seed"])
        torch.manual_seed(t["seed"])
        _, goals = rollouts(env, agent.act, rollouts_n)
        counts.setdefault(t["grid"]["algo"], []).append(np.bincount(goals + 1, minlength=5)[1:])
    lines = ["| algorithm | goals reached in >= 10% of rollouts (per seed) | mean [95% CI] |",
             "|---|---|---:|"]
    fig = _figure(1)
    for i, (algo, cs) in enumerate(counts.items()):
        per_seed = [int((c >= 0.1 * rollouts_n).sum()) for c in cs]
        lines.append(f"| {algo} | {per_seed} | {ci(per_seed)} |")
        fig.axes[0].bar(np.arange(4) + 0.25 * i, np.mean(cs, axis=0), width=0.25, label=algo)
    ax = fig.axes[0]
    ax.set_xticks(np.arange(4) + 0.25, ["+x", "-x", "+y", "-y"])
    ax.set_ylabel(f"rollouts of {rollouts_n} ending at the goal (mean over seeds)")
    ax.legend()
    print(f"figure: {save_figure(fig, out / 'multimodality.png')}")
    print("\n".join(lines))
    # The two-routes corridor, exactly: the probability of ending at each goal.
    world = two_routes_world(half_length=3, slip=0.1)
    left, right = world.state(0, 0), world.state(0, 6)
    for name, pi in [("soft-optimal (alpha 0.1)", soft_value_iteration(world.mdp, 0.1).pi),
                     ("greedy", value_iteration(world.mdp).pi)]:
        p_end = absorption_probabilities(world.mdp, pi)
        print(f"two routes (slip 0.1), {name}: left goal {p_end[left]:.3f}, right goal {p_end[right]:.3f}")


# ---------------------------------------------------------------- claim 2: robustness

PERTURBATIONS = {"mass": (0.5, 0.75, 1.0, 1.25, 1.5), "friction": (0.5, 0.75, 1.0, 1.25, 1.5),
                 "action noise": (0.0, 0.1, 0.2, 0.3, 0.5)}


# Steps of training per robot: at 50k SAC's Hopper policies still fell within 120-900 steps
# (eval returns 276 and 351 on seeds 0 and 1), too unsteady a policy to say what a perturbation
# costs it; HalfCheetah's were running (~2000-3100).
ROBUST_TASKS = {"HalfCheetah-v5": 50_000, "Hopper-v5": 100_000}


def robustness(out: Path, seeds: list[int], steps: int | None, episodes: int = 5) -> None:
    import torch

    from agents.loop import evaluate_returns
    from analysis.policies import load_agent
    from envs.perturb import ActionNoise, perturbed

    d = out / "robustness"
    # One sweep per robot, into one directory (a sweep keeps the trials of another with the
    # same command), each trial named env=ROBOT-algo=ALGO-sSEED.
    for env_name, default in ROBUST_TASKS.items():
        sweep(d, ["train", "--total-steps", str(steps or default), "--grid", f"env={env_name}",
                  "--grid", "algo=sac,soft-td3,td3", *seeds_flag(seeds)])
    rows = []
    for _, t in sorted(trials(d).items()):
        _, agent, env = load_agent(t["dir"])
        torch.manual_seed(t["seed"])

        def policy(obs, skill=0, agent=agent):
            return agent.act(obs, deterministic=True)

        for kind, scales in PERTURBATIONS.items():
            for x in scales:
                seed = 20_000 + t["seed"]
                if kind == "action noise":
                    ret = evaluate_returns(ActionNoise(env, x, seed=t["seed"]), policy, episodes, seed=seed)
                else:
                    with perturbed(env, **{kind: x}):
                        ret = evaluate_returns(env, policy, episodes, seed=seed)
                rows.append({"env": t["grid"]["env"], "algo": t["grid"]["algo"], "seed": t["seed"],
                             "kind": kind, "x": x, "return": ret["eval/return"]})
    df = pd.DataFrame(rows)
    df.to_csv(out / "robustness.csv", index=False)
    envs = sorted(df["env"].unique())
    fig = _figure(len(PERTURBATIONS) * len(envs))
    for ax, (env_name, kind) in zip(fig.axes, [(e, k) for e in envs for k in PERTURBATIONS]):
        for algo, g in df[(df["env"] == env_name) & (df["kind"] == kind)].groupby("algo"):
            m = g.groupby("x")["return"].agg(["mean", "min", "max"])
            ax.plot(m.index, m["mean"], marker="o", label=algo)
            ax.fill_between(m.index, m["min"], m["max"], alpha=0.15)
        ax.set_title(f"{env_name}: {kind}")
        ax.set_xlabel(kind if kind == "action noise" else f"{kind} scale")
        ax.legend()
    print(f"figure: {save_figure(fig, out / 'robustness.png')}")
    # The unperturbed setting (scale 1, no noise) against the mean over the perturbed ones.
    plain = np.where(df["kind"] == "action noise", df["x"] == 0.0, df["x"] == 1.0)
    keys = ["env", "algo", "seed"]
    base = df[plain].groupby(keys)["return"].mean()
    pert = df[~plain].groupby(keys)["return"].mean()
    print("| env | algorithm | unperturbed return | perturbed return (mean over settings) | seeds |")
    print("|---|---|---:|---:|---:|")
    for (env_name, algo), b in base.groupby(level=[0, 1]):
        print(f"| {env_name} | {algo} | {ci(b)} | {ci(pert.loc[env_name, algo])} | {len(b)} |")


def _figure(n: int):
    from matplotlib.figure import Figure

    fig = Figure(layout="constrained", figsize=(5.5 * n, 4.0))
    fig.subplots(1, n)
    return fig


CLAIMS = {"temperature": (temperature, 10_000), "exploration": (exploration, None),
          "multimodality": (multimodality, 30_000), "robustness": (robustness, None)}


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("claim", choices=list(CLAIMS))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=count, default=None, help="env steps per run (default: per claim)")
    p.add_argument("--max-concurrent", type=count, default=None,
                   help="trials at once (default: one per core)")
    p.add_argument("--finished-only", action="store_true",
                   help="run no trials: the claim from those already finished in DIR (a partial result "
                        "while the sweep runs elsewhere)")
    a = p.parse_args()
    RUN_SWEEPS[0] = not a.finished_only
    if a.max_concurrent:
        MAX_CONCURRENT[:] = ["--max-concurrent", str(a.max_concurrent)]
    fn, steps = CLAIMS[a.claim]
    fn(a.out, a.seeds, a.steps or steps)


if __name__ == "__main__":
    main()
