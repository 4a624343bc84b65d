"""SAC updates/s alone (no env), to choose thread and optimiser settings on this CPU.

One update at HalfCheetah-v5's sizes (17-d observation, 6-d action, 256x256, batch 256) with
our fused Adam against the same update with `foreach` Adam (PyTorch's default), interleaved in
rounds of --updates in one process; medians over rounds. Run it once per OpenMP wait policy,
which must be set before torch loads:

    python benchmarks/sac_update.py --threads 1 2
    OMP_WAIT_POLICY=PASSIVE python benchmarks/sac_update.py --threads 1 2
"""

from __future__ import annotations

import os
import statistics
import time

import torch
from _common import count

from agents.buffer import Batch
from agents.sac import SAC, SACConfig
from run import OneLineParser


def batch(n: int, obs_dim: int, act_dim: int, gen: torch.Generator) -> Batch:
    return Batch(torch.randn(n, obs_dim, generator=gen), torch.rand(n, act_dim, generator=gen) * 2 - 1,
                 torch.randn(n, generator=gen), torch.randn(n, obs_dim, generator=gen),
                 torch.zeros(n), torch.zeros(n, dtype=torch.long), torch.zeros(n, 0))


def foreach_adam(agent: SAC) -> SAC:
    """The same agent with PyTorch's default (foreach) Adam instead of the fused one."""
    cfg = agent.cfg
    agent.actor_opt = torch.optim.Adam(agent.actor.parameters(), lr=cfg.actor_lr, foreach=True)
    agent.critic_opt = torch.optim.Adam(agent.critic.parameters(), lr=cfg.critic_lr, foreach=True)
    agent.alpha_opt = torch.optim.Adam([agent.log_alpha], lr=cfg.alpha_lr, foreach=True)
    return agent


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--updates", type=count, default=50, help="updates per timed round")
    p.add_argument("--rounds", type=count, default=10)
    a = p.parse_args()
    print(f"torch {torch.__version__}, load average {os.getloadavg()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    gen = torch.Generator().manual_seed(0)
    batches = [batch(256, 17, 6, gen) for _ in range(a.updates)]
    torch.manual_seed(0)
    agents = {"fused Adam": SAC(17, 6, SACConfig()), "foreach Adam": foreach_adam(SAC(17, 6, SACConfig()))}
    header = " ".join(f"{name + ' upd/s':>18}" for name in agents)
    print(f"{'threads':>7} {header} {'fused/foreach':>14}")
    for threads in a.threads:
        torch.set_num_threads(threads)
        rates: dict[str, list[float]] = {name: [] for name in agents}
        for r in range(a.rounds + 1):  # round 0 warms up
            for name, agent in agents.items():
                t0 = time.perf_counter()
                for b in batches:
                    agent.update(b)
                if r:
                    rates[name].append(a.updates / (time.perf_counter() - t0))
        med = {name: statistics.median(v) for name, v in rates.items()}
        ratios = statistics.median(f / g for f, g in zip(*rates.values()))
        print(f"{threads:>7} " + " ".join(f"{m:>18.1f}" for m in med.values()) + f" {ratios:>14.2f}")


if __name__ == "__main__":
    main()
