"""Training speed (env steps/s) of our SAC against Stable-Baselines3 SAC on HalfCheetah-v5.

What is measured: env steps per second of the whole training loop, i.e. env stepping, acting,
storing the transition, sampling a batch and one gradient step per env step, with identical
hyperparameters (256x256 actor and critics, batch 256, Adam lr 3e-4, learned temperature, a
1e6 buffer for SB3; ours caps its buffer at the run's step count, as the loop does). Neither
side evaluates, checkpoints or prints inside the timed chunks.

How: the machine is shared and noisy, so the two are timed in interleaved chunks of --chunk
steps in one process: ours N steps, SB3 N steps, ours N steps, ... and the result is the median
of the per-pair ratios (short chunks, many pairs: load that comes and goes hits both alike).
Ours runs through the real `OffPolicyLoop.run()`, unchanged: its evaluation callback fires every
N steps (eval_every=N) and is where the chunk boundary is timed and SB3's chunk runs
(`model.learn(N, reset_num_timesteps=False)`, SB3's own loop with its Monitor and DummyVecEnv).
The first chunks of each, up to past learning_starts, are an untimed warm-up. Each chunk is
timed by wall clock and by process CPU time; at 1 thread the CPU-time rate is what an idle
machine would give, at 2 threads it also counts OpenMP threads spinning while they wait.
Everything is repeated per --threads value (torch.set_num_threads); no new pair starts after
--budget seconds per thread count. On a loaded machine run it with OMP_WAIT_POLICY=PASSIVE
(set before torch loads): libgomp's default spin-waiting made 2-thread SAC updates ~1.8x slower
when other processes held the cores (benchmarks/sac_update.py, benchmarks/RESULTS.md).

--profile instead times the pieces of our step (env, act, store, sample, update) and prints a
torch.profiler table of the ops of our training steps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import count, non_negative, positive  # noqa: E402
from torch.profiler import ProfilerActivity, profile, record_function  # noqa: E402

from agents.buffer import ReplayBuffer  # noqa: E402
from agents.loop import LoopConfig, OffPolicyLoop  # noqa: E402
from agents.sac import SAC, SACConfig  # noqa: E402
from envs.registry import make_env  # noqa: E402
from run import OneLineParser  # noqa: E402


def sac_config(learning_starts: int, precision: str = "float32") -> SACConfig:
    return SACConfig(hidden=(256, 256), actor_lr=3e-4, critic_lr=3e-4, alpha_lr=3e-4, gamma=0.99,
                     tau=0.005, batch_size=256, gradient_steps=1, learning_starts=learning_starts,
                     buffer_size=1_000_000, precision=precision)


def make_sb3(env_name: str, learning_starts: int, seed: int):
    from stable_baselines3 import SAC as SB3SAC

    return SB3SAC("MlpPolicy", make_env(env_name, seed=seed), learning_rate=3e-4, buffer_size=1_000_000,
                  learning_starts=learning_starts, batch_size=256, tau=0.005, gamma=0.99, train_freq=1,
                  gradient_steps=1, ent_coef="auto", target_entropy="auto",
                  policy_kwargs=dict(net_arch=[256, 256]), seed=seed, device="cpu", verbose=0)


class _OutOfTime(Exception):
    pass


def compare(args: argparse.Namespace, threads: int) -> dict[str, float]:
    """Interleaved chunks of ours and SB3 at `threads` torch threads; returns the medians."""
    torch.set_num_threads(threads)
    n = args.chunk
    warm = args.learning_starts // n + 1  # untimed chunks: both run past learning_starts first
    sb3 = make_sb3(args.env, args.learning_starts, args.seed)
    env = make_env(args.env, seed=args.seed)
    agent = SAC(env.observation_space.shape[0], env.action_space.shape[0],
                sac_config(args.learning_starts, args.precision))
    total = n * (warm + args.pairs)
    cfg = LoopConfig(total_steps=total, eval_every=n, log_every=n, checkpoint_every=10 * total,
                     seed=args.seed, progress=False)
    chunks: dict[str, list[tuple[float, float]]] = {"ours": [], "sb3": []}  # (wall s, CPU s)
    mark = (0.0, 0.0)  # when our current chunk started
    start = time.perf_counter()

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def boundary(policy) -> dict[str, float]:
        # Called by the loop at step 0 and every n steps: closes our chunk, runs SB3's.
        nonlocal mark
        now = clock()
        k = loop.step // n  # our chunks done
        if k > warm:
            chunks["ours"].append((now[0] - mark[0], now[1] - mark[1]))
            o, s = n / chunks["ours"][-1][0], n / chunks["sb3"][-1][0]
            print(f"  threads {threads} pair {k - warm:2d}: sb3 {s:6.1f} steps/s, ours {o:6.1f} steps/s, "
                  f"ratio {o / s:.2f}", flush=True)
            if k - warm >= 3 and time.perf_counter() - start > args.budget:
                raise _OutOfTime  # a loaded machine: stop at the budget with what we have
        if k < warm + args.pairs:
            t0 = clock()
            sb3.learn(total_timesteps=n, reset_num_timesteps=False)
            t1 = clock()
            if k >= warm:
                chunks["sb3"].append((t1[0] - t0[0], t1[1] - t0[1]))
        mark = clock()
        return {}

    with tempfile.TemporaryDirectory() as run_dir:
        loop = OffPolicyLoop(cfg, env, agent, boundary, run_dir)
        try:
            loop.run()
        except _OutOfTime:
            print(f"  budget of {args.budget:.0f} s spent", flush=True)
    out: dict[str, float] = {"pairs": len(chunks["ours"])}
    for i, kind in enumerate(("wall", "cpu")):
        ours = [n / c[i] for c in chunks["ours"]]
        sb3s = [n / c[i] for c in chunks["sb3"][: len(ours)]]
        ratios = [o / s for o, s in zip(ours, sb3s)]
        out |= {f"ours_{kind}": statistics.median(ours), f"sb3_{kind}": statistics.median(sb3s),
                f"ratio_{kind}": statistics.median(ratios), f"q1_{kind}": np.percentile(ratios, 25),
                f"q3_{kind}": np.percentile(ratios, 75)}
    return out


def profile_ours(args: argparse.Namespace, threads: int) -> None:
    """Where our training step's time goes: the loop's pieces, driven one by one as the loop does."""
    torch.set_num_threads(threads)
    cfg = sac_config(args.learning_starts, args.precision)
    env = make_env(args.env, seed=args.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    agent = SAC(obs_dim, act_dim, cfg)
    buf = ReplayBuffer(100_000, obs_dim, act_dim)
    gen = torch.Generator().manual_seed(args.seed)
    obs = env.reset(seed=args.seed)[0].astype(np.float32)
    for _ in range(cfg.learning_starts):
        a = env.action_space.sample()
        nxt, r, term, trunc, _ = env.step(a)
        buf.add(obs, a, r, nxt.astype(np.float32), term)
        obs = env.reset()[0].astype(np.float32) if term or trunc else nxt.astype(np.float32)

    names = ("env", "act", "store", "sample", "update")
    clock = dict.fromkeys(names, 0.0)

    def step(timed: bool) -> None:
        nonlocal obs
        t = [time.perf_counter()]
        with record_function("act"):
            a = agent.act(obs)
        t.append(time.perf_counter())
        with record_function("env"):
            nxt, r, term, trunc, _ = env.step(a)
            nxt = nxt.astype(np.float32)
        t.append(time.perf_counter())
        with record_function("store"):
            buf.add(obs, a, r, nxt, term)
        t.append(time.perf_counter())
        with record_function("sample"):
            batch = buf.sample(cfg.batch_size, gen)
        t.append(time.perf_counter())
        with record_function("update"):
            agent.update(batch)
        t.append(time.perf_counter())
        obs = env.reset()[0].astype(np.float32) if term or trunc else nxt
        if timed:
            for name, a0, a1 in zip(("act", "env", "store", "sample", "update"), t, t[1:]):
                clock[name] += a1 - a0

    for _ in range(200):  # warm-up
        step(False)
    m = args.profile_steps
    t0 = time.perf_counter()
    for _ in range(m):
        step(True)
    total = time.perf_counter() - t0
    print(f"\n== our step, {threads} thread(s), {m} steps: {1e3 * total / m:.2f} ms/step "
          f"({m / total:.0f} steps/s, pieces driven directly, no loop bookkeeping)")
    for name in names:
        print(f"  {name:<7} {1e3 * clock[name] / m:7.3f} ms  {100 * clock[name] / total:5.1f} %")
    rest = total - sum(clock.values())
    print(f"  {'other':<7} {1e3 * rest / m:7.3f} ms  {100 * rest / total:5.1f} %")

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(100):
            step(False)
    print(f"\n== torch.profiler, 100 of our training steps, {threads} thread(s), top ops by self CPU "
          "time (the profiler's own overhead inflates the many small ops)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile_rows))
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=12))


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to test")
    p.add_argument("--chunk", type=count, default=300, help="env steps per timed chunk")
    p.add_argument("--pairs", type=count, default=30, help="timed (ours, SB3) chunk pairs per thread count")
    p.add_argument("--budget", type=positive, default=240,
                   help="seconds per thread count after which no new pair starts (at least 3 pairs)")
    p.add_argument("--learning-starts", type=non_negative, default=1000)
    p.add_argument("--seed", type=non_negative, default=0)
    p.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                   help="our SAC's matrix products (SB3 stays float32)")
    p.add_argument("--profile", action="store_true", help="profile our step instead of comparing")
    p.add_argument("--profile-steps", type=count, default=1000, help="steps timed piece by piece")
    p.add_argument("--profile-rows", type=count, default=25, help="rows of the op table")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, our precision {args.precision}")
    if args.profile:
        for threads in args.threads:
            profile_ours(args, threads)
        return
    results = {}
    for threads in args.threads:
        t0 = time.perf_counter()
        results[threads] = compare(args, threads)
        print(f"  ({time.perf_counter() - t0:.0f} s)")
    print(f"\nload average at the end {os.getloadavg()}")
    for kind, what in (("wall", "wall-clock"), ("cpu", "process CPU time")):
        print(f"\nsteps/s by {what}: medians over chunk pairs; ratio = median of per-pair ratios")
        print(f"{'threads':>7} {'pairs':>5} {'ours':>8} {'SB3':>8} {'ours/SB3':>9} {'IQR':>11}")
        for threads, r in results.items():
            print(f"{threads:>7} {r['pairs']:>5} {r[f'ours_{kind}']:>8.1f} {r[f'sb3_{kind}']:>8.1f} "
                  f"{r[f'ratio_{kind}']:>9.2f} {r[f'q1_{kind}']:>5.2f}-{r[f'q3_{kind}']:.2f}")


if __name__ == "__main__":
    main()
