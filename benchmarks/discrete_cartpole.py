"""The discrete soft Q-learning agent on CartPole-v1 across seeds, in the configuration of
tests/test_discrete.py::test_soft_q_learns_cartpole (`run.py train --algo sql-discrete` with its
defaults, 20k steps, one evaluation of 5 episodes at the end), to show the test's seed is not a
lucky one. Each seed is the run a user starts, through run.py.

    python benchmarks/discrete_cartpole.py --seeds 0 1 2
"""

from __future__ import annotations

import tempfile
import time

from _common import count, final, main_or_exit, non_negative, run

from run import OneLineParser


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=count, default=20_000)
    a = p.parse_args()
    for seed in a.seeds:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as run_dir:
            run(["train", "--algo", "sql-discrete", "--env", "CartPole-v1", "--total-steps", str(a.steps),
                 "--eval-every", str(a.steps), "--eval-episodes", "5", "--seed", str(seed), "--threads", "1",
                 "--run-dir", run_dir, "--no-progress"])
            ret = final(run_dir, "eval/return")
        print(f"seed {seed}: eval return {ret:.0f} (test threshold 195, cap 500), "
              f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main_or_exit(main)
