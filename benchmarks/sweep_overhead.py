"""Overhead of `run.py sweep` on Ray against the same trials as plain processes, two at a time.

Both sides run the same N short trials (`run.py train` on HalfCheetah-v5, one thread each, seeds
0..N-1): once as one `run.py sweep` (embedded Ray: its start, scheduling, and the worker
processes it reuses between trials), once as `run.py train` processes, `--jobs` at a time.
The two sides alternate over --repeats, so that load on a shared machine hits both alike, and the
ratio of wall times (sweep / plain) is printed per repeat with the median.
Target: the sweep at most 1.1x the plain processes.

    python benchmarks/sweep_overhead.py --trials 8 --steps 3000 --repeats 2
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import count

from run import OneLineParser

ROOT = Path(__file__).resolve().parents[1]


def train_flags(steps: int) -> list[str]:
    return ["--env", "HalfCheetah-v5", "--total-steps", str(steps), "--learning-starts", "1000",
            "--eval-every", str(steps), "--eval-episodes", "1", "--no-progress"]


def plain(out: Path, trials: int, steps: int, jobs: int) -> float:
    """Wall time of `trials` runs as separate processes, at most `jobs` at once."""
    t0 = time.perf_counter()
    pending = list(range(trials))
    running: list[subprocess.Popen] = []
    while pending or running:
        while pending and len(running) < jobs:
            seed = pending.pop(0)
            cmd = [sys.executable, str(ROOT / "run.py"), "train", *train_flags(steps), "--seed",
                   str(seed), "--threads", "1", "--run-dir", str(out / f"s{seed}")]
            running.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=_env()))
        for p in list(running):
            if p.poll() is not None:
                if p.returncode != 0:
                    raise SystemExit(f"a plain run exited {p.returncode}")
                running.remove(p)
        time.sleep(0.05)
    return time.perf_counter() - t0


def sweep(out: Path, trials: int, steps: int) -> float:
    t0 = time.perf_counter()
    cmd = [sys.executable, str(ROOT / "run.py"), "sweep", "train", *train_flags(steps), "--seeds",
           *map(str, range(trials)), "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=_env())
    return time.perf_counter() - t0


def _env() -> dict:
    # One thread per process on both sides (Ray sets this for its workers too).
    return dict(os.environ, OMP_NUM_THREADS="1", MUJOCO_GL="egl")


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=count, default=8)
    p.add_argument("--steps", type=count, default=3000, help="env steps per trial")
    p.add_argument("--jobs", type=count, default=os.cpu_count(), help="plain processes at once")
    p.add_argument("--repeats", type=count, default=2)
    args = p.parse_args()
    ratios = []
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as d:
            t_plain = plain(Path(d) / "plain", args.trials, args.steps, args.jobs)
            t_sweep = sweep(Path(d) / "sweep", args.trials, args.steps)
        ratios.append(t_sweep / t_plain)
        print(f"repeat {r}: plain {t_plain:.1f} s ({args.jobs} at a time), sweep {t_sweep:.1f} s: "
              f"sweep/plain {ratios[-1]:.3f}", flush=True)
    print(f"{args.trials} trials of {args.steps} steps: median sweep/plain wall time "
          f"{statistics.median(ratios):.3f} (target <= 1.1)")


if __name__ == "__main__":
    main()
