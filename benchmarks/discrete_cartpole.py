"""The discrete soft Q-learning agent on CartPole-v1 across seeds, in the configuration of
tests/test_discrete.py::test_soft_q_learns_cartpole (defaults, 20k steps, one evaluation of 5
episodes at the end), to show the test's seed is not a lucky one.

    python benchmarks/discrete_cartpole.py --seeds 0 1 2
"""

from __future__ import annotations

import functools
import tempfile
import time

import torch
from _common import count, non_negative

from agents.discrete import DiscreteConfig, SoftQ
from agents.loop import LoopConfig, OffPolicyLoop, evaluate_returns
from envs.registry import make_env
from run import OneLineParser


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=count, default=20_000)
    a = p.parse_args()
    torch.set_num_threads(1)
    for seed in a.seeds:
        env, eval_env = make_env("CartPole-v1", seed=seed), make_env("CartPole-v1", seed=seed + 10_000)
        torch.manual_seed(seed)
        agent = SoftQ(env.observation_space.shape[0], int(env.action_space.n), DiscreteConfig())
        cfg = LoopConfig(total_steps=a.steps, eval_every=a.steps, eval_episodes=5, seed=seed, progress=False)
        t0 = time.perf_counter()
        evaluate = functools.partial(evaluate_returns, eval_env, episodes=5)
        with tempfile.TemporaryDirectory() as run_dir:
            final = OffPolicyLoop(cfg, env, agent, evaluate, run_dir).run()
        print(f"seed {seed}: eval return {final['eval/return']:.0f} (test threshold 195, cap 500), "
              f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
