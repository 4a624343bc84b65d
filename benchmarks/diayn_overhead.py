"""Overhead of DIAYN: env steps/s of skill pretraining against plain SAC, same network sizes.

Both run through `run.py` (the one loop) on HalfCheetah-v5 with 256x256 actor and critics,
batch 256, one update per step; DIAYN adds its discriminator (256x256, K skills, the x feature)
and the skill one-hot. Runs alternate SAC, DIAYN, SAC, DIAYN ... so that load on a shared
machine hits both alike; the rate is taken from each run's metrics between --from-step and the
last logged row before the final evaluation. Prints each pair and the median slowdown.
Target: DIAYN at most 15% slower.

    python benchmarks/diayn_overhead.py --pairs 3 --steps 3000 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _common import run, steps_per_second


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--learning-starts", type=int, default=500)
    p.add_argument("--skills", type=int, default=10)
    p.add_argument("--feature", default="x")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    common = ["--env", a.env, "--total-steps", str(a.steps), "--learning-starts", str(a.learning_starts),
              "--eval-every", str(a.steps), "--eval-episodes", "1", "--log-every", "250",
              "--checkpoint-every", str(10 * a.steps), "--threads", str(a.threads), "--no-progress"]
    from_step = a.learning_starts + 500  # past the warm-up and the first updates
    slowdowns = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.pairs):
            sac_dir, diayn_dir = Path(tmp) / f"sac{i}", Path(tmp) / f"diayn{i}"
            run(["train", "--run-dir", str(sac_dir), "--seed", str(i), *common])
            run(["pretrain", "--skills", str(a.skills), "--feature", a.feature, "--no-visualize",
                 "--run-dir", str(diayn_dir), "--seed", str(i), *common])
            sac, diayn = steps_per_second(sac_dir, from_step), steps_per_second(diayn_dir, from_step)
            slowdowns.append(1 - diayn / sac)
            print(f"pair {i}: SAC {sac:6.1f} steps/s, DIAYN {diayn:6.1f} steps/s, "
                  f"DIAYN slower by {100 * slowdowns[-1]:.1f}%", flush=True)
    print(f"median slowdown over {a.pairs} pairs: {100 * statistics.median(slowdowns):.1f}% "
          f"(target <= 15%)")


if __name__ == "__main__":
    main()
