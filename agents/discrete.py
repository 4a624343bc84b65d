"""Soft Q-learning for `Discrete` action spaces, with a temperature tuned to an entropy target.

Why soft Q-learning and not discrete SAC: with a finite action set the maximum-entropy policy
is known in closed form from Q, pi(a|s) = softmax(Q(s, .)/alpha) (Haarnoja et al. 2017,
1702.08165, eq. 6), so there is no actor to fit. Discrete SAC (Christodoulou 2019, 1910.07207)
fits an actor to that same softmax by gradient descent and adds a second place to go wrong:
with its default target entropy 0.98 log|A| the temperature climbs until the policy is almost
uniform, and the actor/critic pair is known to stall or collapse (Zhou et al. 2022,
"Revisiting discrete soft actor-critic", 2209.10081). Soft Q-learning is DQN with a soft max
in the target, as robust as DQN, and one network cheaper per update.

The temperature is learned as in SAC (1812.05905 eq. 18): the entropy of the Boltzmann policy
grows with alpha for a fixed Q, so a gradient step on log alpha towards an entropy target
(a fraction of log|A|) is a stable controller. That matters for the meta-controller of a
hierarchy, whose rewards are sums over k steps and whose Q-gaps have no known scale: a fixed
alpha that is right for CartPole would be far too hot or too cold there.

With `stay_prior` the entropy bonus is measured against a prior policy pi0 that favours the
action just taken, -alpha KL(pi || pi0) in place of alpha H(pi) (KL-regularised RL with a
default policy; pi0 uniform is the plain case up to a constant): pi = pi0 exp(Q/alpha) / Z and
V = alpha log E_pi0[exp(Q/alpha)]. A hierarchy's controller that redraws its skill every choice
learns the values of a policy that keeps no skill long; under a sticky prior the soft-optimal
policy keeps one unless another is worth more, and Q(s, z) is the value of switching to z and
mostly staying with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.buffer import Batch
from agents.config import check, layer_sizes, non_negative, positive
from agents.nets import mlp
from agents.sac import polyak_update, step_temperature


@dataclass(frozen=True)
class DiscreteConfig:
    algo: ClassVar[str] = "sql-discrete"

    hidden: tuple[int, ...] = (64, 64)
    """hidden layer sizes of each Q-network"""
    n_q: int = 2
    """Q-networks; the policy and the target use their minimum (clipped double Q)"""
    q_lr: float = field(default=1e-3, metadata={"group": "lr"})
    """Adam learning rate of the Q-network"""
    alpha_lr: float = field(default=1e-3, metadata={"group": "lr"})
    """Adam learning rate of log_alpha"""
    gamma: float = 0.99
    """discount factor per robot step: a transition that spans n of them (a hierarchy's choice of
    a skill for k steps, or fewer where the episode ended first) is discounted by gamma^n"""
    tau: float = 0.01
    """Polyak averaging coefficient of the target Q-network"""
    target_update_interval: int = 1
    """gradient steps between Polyak updates of the target Q-network"""
    batch_size: int = 64
    """transitions per gradient step"""
    gradient_steps: int = 1
    """gradient steps per round of updates (per environment step with train_freq 1: the
    update-to-data ratio)"""
    train_freq: int = field(default=1, metadata={"cli": False})
    """environment steps between rounds of gradient_steps updates (SB3's train_freq): with
    gradient_steps 1, an update-to-data ratio of 1/train_freq. Updates set the speed on a CPU, so
    a ratio below 1 collects more experience per hour (METRA's code trains 50 steps per 1600)"""
    learning_starts: int = 1000
    """environment steps of uniform random actions before the first update"""
    buffer_size: int = 100_000
    """replay buffer capacity"""
    max_grad_norm: float = 10.0
    """clip of the Q-network's gradient norm (DQN practice; rare large TD errors stay bounded)"""
    alpha: float | None = None
    """fixed temperature; None learns log_alpha against the entropy target"""
    init_alpha: float = 0.1
    """initial temperature when it is learned"""
    target_entropy_ratio: float = 0.3
    """entropy target as a fraction of log|A| (Christodoulou used 0.98: an almost uniform policy);
    with `stay_prior`, the KL to the prior is held at (1 - this) log|A| instead, the same
    constraint under a uniform prior"""
    greedy_on_target: bool = field(default=False, metadata={"cli": False})
    """greedy actions (evaluation) from the Polyak-averaged target Q-networks, not the online
    ones: an average of the last ~1/tau updates, whose argmax swings less between updates"""
    stay_prior: float = field(default=0.0, metadata={"cli": False})
    """p > 0: the policy's entropy bonus becomes a KL to a prior that takes the previous action
    again with probability p and each other with (1 - p)/(|A| - 1), and uniform where there was
    none; the previous action is read from the observation's last |A| entries, one-hot (a
    hierarchy's `last_skill_obs`). 0: the uniform prior, plain maximum entropy"""

    def __post_init__(self):
        layer_sizes(self, "hidden", min_layers=0)
        positive(self, "n_q", "q_lr", "alpha_lr", "target_update_interval", "batch_size",
                 "gradient_steps", "train_freq", "buffer_size", "max_grad_norm", "init_alpha", "alpha")
        non_negative(self, "learning_starts", "target_entropy_ratio")
        check(self, "gamma", 0 <= self.gamma < 1, "must be in [0, 1)")
        check(self, "tau", 0 < self.tau <= 1, "must be in (0, 1]")
        check(self, "stay_prior", 0 <= self.stay_prior < 1, "must be in [0, 1): the prior's "
              "probability of taking the previous action again (0: off)")


# ---------------------------------------------------------------- the math, as pure functions


def boltzmann_logits(q: torch.Tensor, alpha: torch.Tensor | float,
                     log_prior: torch.Tensor | None = None) -> torch.Tensor:
    """Q/alpha + log pi0 over the last axis (Q/alpha under the uniform prior): the unnormalised
    log-probabilities of the soft-optimal policy, from which its value, log-probabilities and
    mode all follow."""
    return q / alpha if log_prior is None else q / alpha + log_prior


def soft_value(q: torch.Tensor, alpha: torch.Tensor | float,
               log_prior: torch.Tensor | None = None) -> torch.Tensor:
    """V(s) = alpha log sum_a exp(Q(s, a)/alpha) over the last axis (1702.08165 eq. 7,
    discrete). It tends to max_a Q as alpha -> 0 and exceeds it by at most alpha log|A|. With a
    prior pi0 (its log over the last axis), V = alpha log sum_a pi0(a|s) exp(Q(s, a)/alpha),
    which lies between min_a Q and max_a Q."""
    return alpha * torch.logsumexp(boltzmann_logits(q, alpha, log_prior), dim=-1)


def boltzmann_policy(q: torch.Tensor, alpha: torch.Tensor | float,
                     log_prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """pi(a|s) = exp((Q(s, a) - V(s))/alpha) = softmax(Q/alpha) (1702.08165 eq. 6), or with a
    prior pi0 exp((Q - V)/alpha) pi0 = softmax(Q/alpha + log pi0), and its log, computed with
    log_softmax so that a cold policy's log-probabilities stay finite."""
    log_pi = F.log_softmax(boltzmann_logits(q, alpha, log_prior), dim=-1)
    return log_pi.exp(), log_pi


def sticky_log_prior(previous: torch.Tensor, stay: float) -> torch.Tensor:
    """log pi0(a|s) for a prior that takes the previous action again with probability `stay` and
    any other with (1 - stay)/(|A| - 1): `previous` is its one-hot over the last axis, or zeros
    where there was none (then pi0 is uniform)."""
    n = previous.shape[-1]
    logit = math.log(stay * (n - 1) / (1.0 - stay))
    return F.log_softmax(logit * previous, dim=-1)


def entropy(pi: torch.Tensor, log_pi: torch.Tensor) -> torch.Tensor:
    """H(pi(.|s)) = -sum_a pi log pi, exactly, per state (no sampled estimate is needed)."""
    return -(pi * log_pi).sum(-1)


def soft_q_target(reward: torch.Tensor, terminated: torch.Tensor, discount: float | torch.Tensor,
                  next_v: torch.Tensor) -> torch.Tensor:
    """y = r + discount (1 - terminated) V(s') (1702.08165 eq. 10): discount is gamma, or gamma^n
    per transition for one that spans n steps (an option's, the semi-MDP Bellman equation of
    Sutton, Precup & Singh 1999, with r its return discounted within). Only termination stops
    bootstrapping: a time-limit truncation is stored as terminated = 0 and s' still counts."""
    return reward + discount * (1.0 - terminated) * next_v


def soft_q_loss(q: torch.Tensor, action: torch.Tensor, q_target: torch.Tensor) -> torch.Tensor:
    """0.5 * mean over the batch of (Q(s, a) - y)^2 at the taken action (1702.08165 eq. 11),
    summed over Q-networks when `q` is (n_q, B, |A|) rather than (B, |A|)."""
    q_a = q.gather(-1, action.expand(q.shape[:-1]).unsqueeze(-1)).squeeze(-1)
    return 0.5 * (q_a - q_target).pow(2).mean(-1).sum()


class QEnsemble(nn.Module):
    """n_q independent Q-networks s -> Q(s, .) over all actions; returns (n_q, B, |A|)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: tuple[int, ...], n_q: int):
        super().__init__()
        self.nets = nn.ModuleList(mlp(obs_dim, hidden, n_actions) for _ in range(n_q))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.stack([net(obs) for net in self.nets])


# ---------------------------------------------------------------- the agent


class SoftQ:
    """Owns the Q-network, its Polyak target, log_alpha and the optimizers."""

    Config = DiscreteConfig

    def __init__(self, obs_dim: int, n_actions: int, cfg: DiscreteConfig, device: str = "cpu"):
        if n_actions < 2:
            raise ValueError(f"a discrete agent needs at least 2 actions, got {n_actions}")
        self.cfg = cfg
        self.device = torch.device(device)
        self.n_actions = n_actions
        self.q = QEnsemble(obs_dim, n_actions, cfg.hidden, cfg.n_q).to(self.device)
        self.q_target = QEnsemble(obs_dim, n_actions, cfg.hidden, cfg.n_q).to(self.device)
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        # Fused Adam, as in agents/sac.py: one kernel per step.
        self.q_opt = torch.optim.Adam(self.q.parameters(), lr=cfg.q_lr, fused=True)
        self.learn_alpha = cfg.alpha is None
        init = cfg.init_alpha if self.learn_alpha else cfg.alpha
        self.log_alpha = torch.tensor(math.log(init), device=self.device,
                                      requires_grad=self.learn_alpha)
        self.alpha_opt = (torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr, fused=True)
                          if self.learn_alpha else None)
        self.target_entropy = cfg.target_entropy_ratio * math.log(n_actions)
        self._online = list(self.q.parameters())
        self._target = list(self.q_target.parameters())
        self.n_updates = 0

    @classmethod
    def build(cls, obs_dim: int, action_space, cfg: DiscreteConfig, device: str = "cpu") -> SoftQ:
        from agents.registry import require_discrete

        return cls(obs_dim, require_discrete(action_space, "sql-discrete"), cfg, device)

    def log_prior(self, obs: torch.Tensor) -> torch.Tensor | None:
        """log pi0(.|s) per state of `obs` (B, obs_dim); None for the uniform prior."""
        if not self.cfg.stay_prior:
            return None
        return sticky_log_prior(obs[..., -self.n_actions:], self.cfg.stay_prior)

    # acting ----------------------------------------------------------------
    @torch.inference_mode()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> int:
        # A batch of one: the argmax and the draw index the flattened (1, |A|) row.
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)
        log_prior = self.log_prior(o)
        if deterministic:
            net = self.q_target if self.cfg.greedy_on_target else self.q
            q = net(o).min(dim=0).values
            if log_prior is None:
                return int(q.argmax())
            # The policy's most probable action, pi0 exp(Q/alpha)'s mode: the previous action
            # unless another's Q is higher by more than alpha times the prior's log-odds.
            return int(boltzmann_logits(q, self.log_alpha.exp(), log_prior).argmax())
        pi, _ = boltzmann_policy(self.q(o).min(dim=0).values, self.log_alpha.exp(), log_prior)
        return int(torch.multinomial(pi, 1))

    # learning --------------------------------------------------------------
    def update(self, batch: Batch) -> dict[str, float]:
        cfg = self.cfg
        # The buffer is shared with continuous agents and stores actions as floats, (B, 1).
        action = batch.action.squeeze(-1).long()
        alpha = self.log_alpha.detach().exp()

        with torch.no_grad():
            next_v = soft_value(self.q_target(batch.next_obs).min(dim=0).values, alpha,
                                self.log_prior(batch.next_obs))
            discount = cfg.gamma if batch.steps is None else cfg.gamma ** batch.steps
            q_target = soft_q_target(batch.reward, batch.terminated, discount, next_v)
        q = self.q(batch.obs)
        loss_q = soft_q_loss(q, action, q_target)
        self.q_opt.zero_grad(set_to_none=True)
        loss_q.backward()
        torch.nn.utils.clip_grad_norm_(self._online, cfg.max_grad_norm)
        self.q_opt.step()

        # The policy is a function of Q, so its entropy on the batch states is exact.
        log_prior = self.log_prior(batch.obs)
        pi, log_pi = boltzmann_policy(q.detach().min(dim=0).values, alpha, log_prior)
        h = entropy(pi, log_pi)
        if self.learn_alpha:
            # E_pi[log pi] = -H: SAC's temperature loss with the expectation taken exactly
            # (1910.07207 eq. 11). With a prior, KL(pi || pi0) - log|A| takes -H's place: the
            # KL is held at log|A| - target entropy, which under the uniform prior (KL = log|A|
            # - H) is the entropy target itself. An entropy target would not do: a sticky
            # prior's own entropy can lie below it, and alpha would then grow without bound.
            log_pi_term = -h if log_prior is None else \
                (pi * (log_pi - log_prior)).sum(-1) - math.log(self.n_actions)
            step_temperature(self.log_alpha, self.alpha_opt, log_pi_term, self.target_entropy)

        self.n_updates += 1
        if self.n_updates % cfg.target_update_interval == 0:
            polyak_update(self._online, self._target, cfg.tau)

        # One tensor, one conversion: each .item() is a sync and a Python call.
        stats = torch.stack([loss_q.detach(), alpha, h.mean(), q.detach().mean()]).tolist()
        return dict(zip(_METRIC_KEYS, stats))

    # checkpoints -----------------------------------------------------------
    def state_dict(self) -> dict:
        state = {
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "q_opt": self.q_opt.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "n_updates": self.n_updates,
        }
        if self.alpha_opt is not None:
            state["alpha_opt"] = self.alpha_opt.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.q_opt.load_state_dict(state["q_opt"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        if self.alpha_opt is not None:
            self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.n_updates = int(state["n_updates"])


_METRIC_KEYS = ("train/critic_loss", "train/alpha", "train/entropy", "train/q")
