"""Learning quality of our SAC against Stable-Baselines3 SAC on HalfCheetah-v5; and of our TD3
against SB3's TD3, with soft TD3 beside them.

What is measured: for each seed, train for --steps environment steps with identical
hyperparameters (256x256 actor and critics, batch 256, one gradient step per env step, Adam lr
3e-4, gamma 0.99, tau 0.005, learned temperature with target entropy -dim(A) from alpha=1,
uniform random actions for the first --learning-starts steps, a 1e6 replay buffer), then the
mean undiscounted return of the deterministic policy over --eval-episodes episodes. The eval is
the same function (agents.loop.evaluate_returns) on the same freshly built env (seed + 10000)
for both algorithms, so only the training differs. Our loop's periodic evaluations are turned
off (they would cost time and nothing else); train_s is the training wall time alone.

Why: a speed-up is only worth having if the agent still learns as well as a reference
implementation. Three seeds at 50k steps cannot detect small differences, but catch a broken
update (a wrong sign, a wrong target, a detached gradient) that would leave returns far apart.

TD3 (`--algo ours-td3 sb3-td3 ours-soft-td3`): both sides with SB3 TD3's defaults where ours
has the same knob (Adam lr 1e-3, batch 256, tau 0.005, policy delay 2, target noise 0.2 clipped
at 0.5) and the same 256x256 networks, Gaussian exploration noise 0.1 (SB3 adds none unless
given; the RL Zoo gives 0.1) and the same random warm-up as SAC. Soft TD3 is ours alone.

Each run appends one row to --out, so runs can go to separate processes (one torch thread
each) and be aggregated afterwards:

    nice -n 19 python benchmarks/sac_quality.py --algo ours --seeds 0 1 2 --out /tmp/bench/q_ours.csv
    nice -n 19 python benchmarks/sac_quality.py --algo sb3 --seeds 0 1 2 --out /tmp/bench/q_sb3.csv
    python benchmarks/sac_quality.py --summarize /tmp/bench/q_ours.csv /tmp/bench/q_sb3.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import count, non_negative  # noqa: E402

from agents.loop import LoopConfig, OffPolicyLoop, evaluate_returns  # noqa: E402
from agents.sac import SAC, SACConfig  # noqa: E402
from agents.td3 import TD3, TD3Config  # noqa: E402
from envs.registry import make_env  # noqa: E402
from run import OneLineParser  # noqa: E402

FIELDS = ["algo", "seed", "steps", "eval_return", "eval_return_std", "train_s", "threads", "finished"]


def train_ours(env_name: str, seed: int, steps: int, learning_starts: int, run_root: Path,
               algo: str = "sac", precision: str = "float32"):
    """Train our SAC, TD3 or soft TD3 through the real loop; returns the deterministic policy
    and the train time."""
    env = make_env(env_name, seed=seed)
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    torch.manual_seed(seed)
    if algo == "sac":
        sac_cfg = SACConfig(hidden=(256, 256), actor_lr=3e-4, critic_lr=3e-4, alpha_lr=3e-4, gamma=0.99,
                            tau=0.005, batch_size=256, gradient_steps=1, learning_starts=learning_starts,
                            buffer_size=1_000_000, precision=precision)
        agent = SAC(obs_dim, action_dim, sac_cfg)
    else:
        agent = TD3(obs_dim, action_dim, TD3Config(soft=algo == "soft-td3", hidden=(256, 256),
                                                   learning_starts=learning_starts, precision=precision))
    loop_cfg = LoopConfig(total_steps=steps, eval_every=steps, log_every=1000, checkpoint_every=steps,
                          seed=seed, progress=False)
    run_dir = tempfile.mkdtemp(prefix=f"ours_s{seed}_", dir=run_root)
    # No evaluation inside the loop: the same evaluation runs after training for both algos.
    loop = OffPolicyLoop(loop_cfg, env, agent, lambda policy: {}, run_dir)
    t0 = time.perf_counter()
    loop.run()
    return loop.policy, time.perf_counter() - t0


def train_sb3(env_name: str, seed: int, steps: int, learning_starts: int, algo: str = "sac"):
    env = make_env(env_name, seed=seed)
    if algo == "sac":
        from stable_baselines3 import SAC as SB3SAC

        model = SB3SAC("MlpPolicy", env, learning_rate=3e-4, buffer_size=1_000_000,
                       learning_starts=learning_starts, batch_size=256, tau=0.005, gamma=0.99,
                       train_freq=1, gradient_steps=1, ent_coef="auto", target_entropy="auto",
                       policy_kwargs=dict(net_arch=[256, 256]), seed=seed, device="cpu", verbose=0)
    else:
        from stable_baselines3 import TD3 as SB3TD3
        from stable_baselines3.common.noise import NormalActionNoise

        dim = env.action_space.shape[0]
        noise = NormalActionNoise(np.zeros(dim), 0.1 * np.ones(dim))
        model = SB3TD3("MlpPolicy", env, learning_rate=1e-3, buffer_size=1_000_000,
                       learning_starts=learning_starts, batch_size=256, tau=0.005, gamma=0.99,
                       train_freq=1, gradient_steps=1, policy_delay=2, target_policy_noise=0.2,
                       target_noise_clip=0.5, action_noise=noise,
                       policy_kwargs=dict(net_arch=[256, 256]), seed=seed, device="cpu", verbose=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - t0

    def policy(obs: np.ndarray, skill: int) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    return policy, elapsed


def run_one(args: argparse.Namespace, algo: str, seed: int) -> dict:
    side, _, agent = algo.partition("-")
    agent = agent or "sac"
    if side == "ours":
        policy, train_s = train_ours(args.env, seed, args.steps, args.learning_starts, args.run_root,
                                     agent, args.precision)
        if args.precision != "float32":
            algo = f"{algo}-{args.precision}"
    else:
        policy, train_s = train_sb3(args.env, seed, args.steps, args.learning_starts, agent)
    eval_env = make_env(args.env, seed=seed + 10_000)
    ev = evaluate_returns(eval_env, policy, args.eval_episodes)
    return {"algo": algo, "seed": seed, "steps": args.steps, "eval_return": f"{ev['eval/return']:.1f}",
            "eval_return_std": f"{ev['eval/return_std']:.1f}", "train_s": f"{train_s:.0f}",
            "threads": args.threads, "finished": datetime.datetime.now().isoformat(timespec="seconds")}


def append_row(path: Path, row: dict) -> None:
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)


def summarize(paths: list[Path]) -> None:
    rows = []
    for p in paths:
        with p.open() as f:
            rows += list(csv.DictReader(f))
    print(f"{'algo':<13} {'seed':>4} {'steps':>7} {'return':>9} {'train_s':>8}")
    for r in sorted(rows, key=lambda r: (r["algo"], int(r["seed"]))):
        print(f"{r['algo']:<13} {r['seed']:>4} {r['steps']:>7} {float(r['eval_return']):>9.1f} "
              f"{r['train_s']:>8}")
    print()
    for algo in sorted({r["algo"] for r in rows}):
        ret = np.array([float(r["eval_return"]) for r in rows if r["algo"] == algo])
        t = np.array([float(r["train_s"]) for r in rows if r["algo"] == algo])
        std = ret.std(ddof=1) if len(ret) > 1 else float("nan")
        print(f"{algo:<13} n={len(ret)}  eval return mean {ret.mean():8.1f}  std {std:7.1f} (ddof=1)  "
              f"mean train time {t.mean():6.0f} s")
    # Seeds pair the two sides' runs (the same env seeds): the paired difference's standard
    # error is what tells a gap from the spread between seeds.
    for ours in sorted(a for a in {r["algo"] for r in rows} if a.startswith("ours")):
        peer = "sb3" + ours[len("ours"):]
        a, b = returns_by_seed(rows, ours), returns_by_seed(rows, peer)
        diff = np.array([a[s] - b[s] for s in sorted(a.keys() & b.keys())])
        if len(diff):
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            print(f"{ours} - {peer}, paired by seed: n={len(diff)}  mean {diff.mean():8.1f}  "
                  f"standard error {se:7.1f}")


def returns_by_seed(rows: list[dict], algo: str) -> dict[int, float]:
    return {int(r["seed"]): float(r["eval_return"]) for r in rows if r["algo"] == algo}


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=count, default=50_000, help="environment steps per run")
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2])
    p.add_argument("--algo", nargs="+", default=["ours", "sb3"],
                   choices=["ours", "sb3", "ours-td3", "sb3-td3", "ours-soft-td3"],
                   help="ours and sb3 are SAC")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                   help="our agents' matrix products (rows of ours are named ALGO-bfloat16 for bfloat16)")
    p.add_argument("--learning-starts", type=non_negative, default=5_000)
    p.add_argument("--eval-episodes", type=count, default=10)
    p.add_argument("--out", type=Path, default=Path("/tmp/bench/sac_quality.csv"),
                   help="CSV that each finished run appends a row to")
    p.add_argument("--run-root", type=Path, default=Path("/tmp/bench/runs"),
                   help="where our runs write their run dirs")
    p.add_argument("--summarize", type=Path, nargs="+", metavar="CSV",
                   help="only print these CSVs' per-run rows, mean/std per algorithm, and ours minus "
                        "SB3 paired by seed")
    args = p.parse_args()
    if args.summarize:
        missing = [str(path) for path in args.summarize if not path.is_file()]
        if missing:
            p.error(f"--summarize: no such file: {', '.join(missing)}")
        summarize(args.summarize)
        return
    torch.set_num_threads(args.threads)
    args.run_root.mkdir(parents=True, exist_ok=True)
    algos = args.algo
    for seed in args.seeds:
        for algo in algos:
            row = run_one(args, algo, seed)
            append_row(args.out, row)
            print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    summarize([args.out])


if __name__ == "__main__":
    main()
