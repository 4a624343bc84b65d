"""DIAYN on PointMass-v0 with the default settings (8 skills): held-out accuracy, coverage
against a uniformly random policy's, and wall time. Targets: accuracy >= 0.95, coverage far
above random, <= 5 minutes on 2 cores.

    python benchmarks/diayn_pointmass.py --seeds 0 1 2
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from _common import count, final, non_negative, random_coverage, run

from run import OneLineParser


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--steps", type=count, default=None, help="env steps (default: run.py's)")
    p.add_argument("--disc-hidden", type=int, nargs="+", default=None,
                   help="discriminator hidden sizes (default: run.py's)")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in a.seeds:
            d = Path(tmp) / f"s{seed}"
            t0 = time.perf_counter()
            extra = [] if a.disc_hidden is None else ["--disc-hidden", *map(str, a.disc_hidden)]
            extra += [] if a.steps is None else ["--total-steps", str(a.steps)]
            run(["pretrain", "--run-dir", str(d), "--seed", str(seed), "--no-visualize", "--no-progress",
                 "--threads", str(a.threads), *extra])
            minutes = (time.perf_counter() - t0) / 60
            rows.append((seed, final(d, "eval/disc_accuracy"), final(d, "eval/coverage"),
                         random_coverage("PointMass-v0", 8, seed), minutes))
            print("seed {}: held-out accuracy {:.3f}, coverage {:.0f} cells (random policy {}), "
                  "{:.1f} min".format(*rows[-1]), flush=True)
    acc, cov, rnd, mins = (np.array([r[i] for r in rows]) for i in range(1, 5))
    print(f"mean over {len(rows)} seeds: accuracy {acc.mean():.3f} (min {acc.min():.3f}), coverage "
          f"{cov.mean():.1f} vs random {rnd.mean():.1f} ({cov.mean() / rnd.mean():.1f}x), "
          f"{mins.mean():.1f} min per run")


if __name__ == "__main__":
    main()
