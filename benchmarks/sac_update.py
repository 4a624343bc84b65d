"""SAC updates/s alone (no env), to choose thread and optimiser settings on this CPU.

One update at HalfCheetah-v5's sizes (17-d observation, 6-d action, 256x256, batch 256) with
our fused Adam against the same update with `foreach` Adam (PyTorch's default), interleaved in
rounds of --updates in one process; medians over rounds. Run it once per OpenMP wait policy,
which must be set before torch loads:

    python benchmarks/sac_update.py --threads 1 2
    OMP_WAIT_POLICY=PASSIVE python benchmarks/sac_update.py --threads 1 2

--peers instead sets our update beside two others of the same math and sizes, in interleaved
rounds at one thread count: the update written plainly (two critics of nn.Linear layers,
torch.distributions.Normal, PyTorch's default Adam, a per-tensor Polyak loop, in SB3's order:
temperature, critics, actor, targets), and Stable-Baselines3's own `SAC.train(gradient_steps=1)`
(the `dev` extra). Each draws a fresh batch for every update from the same transitions, SB3 from
its own buffer inside train(), the others from ours. It tells how much of our lead over SB3 is
its framework (SB3 against the plain update) and how much is our layout (the plain update
against ours):

    OMP_WAIT_POLICY=PASSIVE python benchmarks/sac_update.py --peers --threads 1
"""

from __future__ import annotations

import os
import statistics
import time

import torch
from _common import count, filled_buffer

from agents.buffer import Batch, ReplayBuffer
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


class PlainSAC:
    """SAC's update as most code writes it (see --peers); for timing only."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256, lr: float = 3e-4):
        from torch import nn

        def net(d_in: int, d_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, d_out))

        self.actor = net(obs_dim, 2 * act_dim)
        self.qs = [net(obs_dim + act_dim, 1) for _ in range(2)]
        self.targets = [net(obs_dim + act_dim, 1) for _ in range(2)]
        for q, t in zip(self.qs, self.targets):
            t.load_state_dict(q.state_dict())
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.q_opt = torch.optim.Adam([p for q in self.qs for p in q.parameters()], lr=lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=lr)
        self.target_entropy = -float(act_dim)

    def _sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.actor(obs).chunk(2, dim=-1)
        dist = torch.distributions.Normal(mean, log_std.clamp(-20, 2).exp())
        u = dist.rsample()
        a = torch.tanh(u)
        return a, (dist.log_prob(u) - torch.log(1 - a.pow(2) + 1e-6)).sum(-1, keepdim=True)

    def update(self, b: Batch) -> None:
        import torch.nn.functional as F

        a, log_pi = self._sample(b.obs)
        alpha_loss = -(self.log_alpha * (log_pi + self.target_entropy).detach()).mean()
        self.alpha_opt.zero_grad()
        alpha_loss.backward()
        self.alpha_opt.step()
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            a2, log_pi2 = self._sample(b.next_obs)
            x2 = torch.cat([b.next_obs, a2], -1)
            q2 = torch.min(*(t(x2) for t in self.targets)) - alpha * log_pi2
            y = b.reward.unsqueeze(-1) + 0.99 * (1 - b.terminated.unsqueeze(-1)) * q2
        x = torch.cat([b.obs, b.action], -1)
        q_loss = sum(F.mse_loss(q(x), y) for q in self.qs) / 2
        self.q_opt.zero_grad()
        q_loss.backward()
        self.q_opt.step()
        x = torch.cat([b.obs, a], -1)
        actor_loss = (alpha * log_pi - torch.min(*(q(x) for q in self.qs))).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        self.actor_opt.step()
        with torch.no_grad():
            for q, t in zip(self.qs, self.targets):
                for p, tp in zip(q.parameters(), t.parameters()):
                    tp.mul_(0.995).add_(p, alpha=0.005)


def sb3_update(buf: ReplayBuffer, batch_size: int):
    """SB3's SAC.train(gradient_steps=1) on HalfCheetah-v5, its replay buffer holding `buf`'s
    transitions (train() samples its batch from it, as ours sample from `buf`)."""
    import gymnasium as gym
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.logger import Logger

    model = SB3SAC("MlpPolicy", gym.make("HalfCheetah-v5"), buffer_size=buf.size, batch_size=batch_size,
                   learning_starts=0, policy_kwargs=dict(net_arch=[256, 256]), device="cpu", verbose=0)
    model.set_logger(Logger(folder=None, output_formats=[]))
    model._current_progress_remaining = 1.0
    rb = model.replay_buffer
    for name, key in (("observations", "obs"), ("next_observations", "next_obs"), ("actions", "action"),
                      ("rewards", "reward"), ("dones", "terminated")):
        getattr(rb, name)[:, 0] = buf._np[key]
    rb.full = True
    return lambda: model.train(gradient_steps=1, batch_size=batch_size)


def peers(threads: int, updates: int, rounds: int) -> None:
    """Each side draws a fresh batch of 256 from the same transitions for every update."""
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    buf = filled_buffer(100_000, 17, 6)
    torch.manual_seed(0)
    ours, plain = SAC(17, 6, SACConfig()), PlainSAC(17, 6)
    steps = {"ours": lambda: ours.update(buf.sample(256, gen)),
             "plain": lambda: plain.update(buf.sample(256, gen)), "SB3": sb3_update(buf, 256)}
    ms: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(rounds + 1):  # round 0 warms up
        for name, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(updates):
                step()
            if r:
                ms[name].append(1e3 * (time.perf_counter() - t0) / updates)
    print(f"{rounds} rounds of {updates} updates at {threads} thread(s); SB3/x is the median of "
          "per-round ratios")
    for name, v in ms.items():
        ratio = statistics.median(s / x for s, x in zip(ms["SB3"], v))
        print(f"{name:>6} {statistics.median(v):7.2f} ms/update   SB3/{name} {ratio:.2f}")


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=count, nargs="+", default=[1, 2])
    p.add_argument("--updates", type=count, default=50, help="updates per timed round")
    p.add_argument("--rounds", type=count, default=10)
    p.add_argument("--peers", action="store_true",
                   help="ours against the plain update and SB3's, at the first --threads value")
    a = p.parse_args()
    print(f"torch {torch.__version__}, load average {os.getloadavg()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    if a.peers:
        peers(a.threads[0], a.updates, a.rounds)
        return
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
