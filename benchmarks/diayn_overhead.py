"""Overhead of DIAYN: env steps/s of skill pretraining against plain SAC, same network sizes.

Both run through `run.py` (the one loop) on HalfCheetah-v5 with 256x256 actor and critics,
batch 256, one update per step; DIAYN adds its discriminator (128x128 by default, K skills, the x feature)
and the skill one-hot. Runs alternate SAC, DIAYN, SAC, DIAYN ... so that load on a shared
machine hits both alike; the rate is taken from each run's metrics between --from-step and the
last logged row before the final evaluation. Prints each pair and the median slowdown.
Targets: whole runs at most 15% slower (the first DIAYN issue); per update at most 8% (issue 23).

    python benchmarks/diayn_overhead.py --pairs 3 --steps 3000 --threads 2

Whole runs a minute apart see different load on a shared machine, so --updates measures the
part that sets the speed (training is update-bound) in one process instead: rounds of SAC
updates and of DIAYN updates (discriminator step + relabelling + SAC on observation + skill
one-hot) at HalfCheetah-v5's sizes, interleaved, and the median of the per-round ratios:

    python benchmarks/diayn_overhead.py --updates --threads 1
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from _common import count, filled_buffer, non_negative, run, steps_per_second

from run import OneLineParser


def update_overhead(skills: int, threads: int, rounds: int, disc_hidden: tuple[int, ...],
                    per_round: int = 50) -> None:
    """Per-update cost of DIAYN against SAC, interleaved rounds in this process."""
    import statistics
    import time

    import torch

    from agents.sac import SAC, SACConfig
    from skills.diayn import DIAYN, DIAYNConfig

    torch.set_num_threads(threads)
    obs_dim, act_dim, n = 17, 6, 256  # HalfCheetah-v5, batch 256
    # Both sides sample a fresh batch from a filled replay buffer each update, as the loop
    # does: reusing a few batches would keep SAC's inputs in cache while DIAYN's relabelled
    # copies are new memory every time.
    buf = filled_buffer(100_000, obs_dim, act_dim, feature_dim=1, skills=skills)
    gen = torch.Generator().manual_seed(0)
    sac, sac_z = SAC(obs_dim, act_dim, SACConfig()), SAC(obs_dim + skills, act_dim, SACConfig())
    diayn = DIAYN(1, DIAYNConfig(n_skills=skills, hidden=disc_hidden))  # the x feature
    batches = range(per_round)

    def timed(step) -> float:
        t0 = time.perf_counter()
        for _ in batches:
            step(buf.sample(n, gen))
        return 1e3 * (time.perf_counter() - t0) / per_round

    ms: dict[str, list[float]] = {"SAC": [], "DIAYN": []}
    for r in range(rounds + 1):  # round 0 warms up
        t_sac, t_diayn = timed(sac.update), timed(lambda b: sac_z.update(diayn.update(b)[0]))
        if r:
            ms["SAC"].append(t_sac)
            ms["DIAYN"].append(t_diayn)
    ratios = sorted(d / s for s, d in zip(ms["SAC"], ms["DIAYN"]))
    print(f"{rounds} rounds of {per_round} updates, {threads} thread(s): SAC "
          f"{statistics.median(ms['SAC']):.2f} ms/update, DIAYN {statistics.median(ms['DIAYN']):.2f} "
          f"ms/update; DIAYN slower by {100 * (statistics.median(ratios) - 1):.1f}% (median of per-round "
          f"ratios; quartiles {100 * (ratios[len(ratios) // 4] - 1):.1f}%-"
          f"{100 * (ratios[3 * len(ratios) // 4] - 1):.1f}%) (target <= 8%)")


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--pairs", type=count, default=3)
    p.add_argument("--steps", type=count, default=3000)
    p.add_argument("--learning-starts", type=non_negative, default=500)
    p.add_argument("--skills", type=int, default=10)
    p.add_argument("--feature", default="x")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--disc-hidden", type=int, nargs="+", default=[128, 128],
                   help="discriminator hidden sizes (SAC's stay 256x256)")
    p.add_argument("--updates", action="store_true", help="per-update cost in one process instead")
    p.add_argument("--rounds", type=count, default=20, help="with --updates: timed rounds")
    a = p.parse_args()
    if a.updates:
        update_overhead(a.skills, a.threads, a.rounds, tuple(a.disc_hidden))
        return
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
                 "--disc-hidden", *map(str, a.disc_hidden),
                 "--run-dir", str(diayn_dir), "--seed", str(i), *common])
            sac, diayn = steps_per_second(sac_dir, from_step), steps_per_second(diayn_dir, from_step)
            slowdowns.append(1 - diayn / sac)
            print(f"pair {i}: SAC {sac:6.1f} steps/s, DIAYN {diayn:6.1f} steps/s, "
                  f"DIAYN slower by {100 * slowdowns[-1]:.1f}%", flush=True)
    print(f"median slowdown over {a.pairs} pairs: {100 * statistics.median(slowdowns):.1f}% "
          f"(target <= 15%)")


if __name__ == "__main__":
    main()
