"""Soft Q-learning for continuous actions (Haarnoja, Tang, Abbeel & Levine 2017, "Reinforcement
Learning with Deep Energy-Based Policies", arXiv 1702.08165).

The policy is the energy-based pi(a|s) ∝ exp(Q(s, a)/alpha) itself (eq. 6), which may have any
number of modes. Two approximations make it tractable: the soft value V(s) = alpha log ∫ exp(Q/alpha)
da is estimated by importance sampling from a uniform proposal over the action box (eq. 10), and
sampling from pi is amortized in a network a = tanh(f(s, xi)), xi ~ N(0, I), trained by Stein
variational gradient descent (SVGD, Liu & Wang 2016, 1608.04471) towards exp(Q/alpha) (eq. 13-14).

The temperature is `alpha` with rewards as the env gives them, where the paper's code scales
rewards instead (reward_scale c with alpha 1): the two are the same algorithm with alpha = 1/c.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from agents.buffer import Batch
from agents.config import check, layer_sizes, non_negative, positive
from agents.discrete import soft_q_target
from agents.nets import mlp
from agents.sac import polyak_update


@dataclass(frozen=True)
class SQLConfig:
    algo: ClassVar[str] = "sql"

    hidden: tuple[int, ...] = (128, 128)
    """hidden layer sizes of the Q-network and of the sampler (the paper's multi-goal: 128, 128)"""
    q_lr: float = field(default=1e-3, metadata={"group": "lr"})
    """Adam learning rate of the Q-network"""
    policy_lr: float = field(default=1e-3, metadata={"group": "lr"})
    """Adam learning rate of the sampler, the step size of its amortized SVGD (eq. 14)"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """Polyak averaging coefficient of the target Q-network (1.0 with an interval of 1000 is the
    paper's code: a hard copy every 1000 gradient steps)"""
    target_update_interval: int = 1
    """gradient steps between updates of the target Q-network"""
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
    buffer_size: int = 1_000_000
    """replay buffer capacity"""
    alpha: float = 10.0
    """temperature: pi ∝ exp(Q/alpha) with Q in the env's reward units (the paper's multi-goal
    scales rewards by 0.1 at alpha 1, which is alpha 10 here)"""
    n_value_particles: int = 16
    """M, uniform actions per next state in the importance-sampled soft value (eq. 10)"""
    n_svgd_particles: int = 32
    """K, sampler actions per state in each SVGD step (eq. 13)"""
    svgd_fixed_fraction: float = 0.5
    """of the K particles, the fraction that only carries the kernel expectation (index j of
    eq. 13, no gradient); the others are moved (the paper's code: kernel_update_ratio 0.5)"""
    squash_correction: bool = True
    """add sum_i log(1 - a_i^2), the log-determinant of tanh's Jacobian, to the SVGD target
    log-density, as the paper's code does: a barrier that keeps particles off +-1, where tanh
    saturates and the sampler's gradient vanishes"""

    def __post_init__(self):
        layer_sizes(self, "hidden")
        positive(self, "q_lr", "policy_lr", "target_update_interval", "batch_size", "gradient_steps",
                 "train_freq", "buffer_size", "alpha", "n_value_particles")
        non_negative(self, "learning_starts")
        check(self, "gamma", 0 <= self.gamma < 1, "must be in [0, 1)")
        check(self, "tau", 0 < self.tau <= 1, "must be in (0, 1]")
        check(self, "n_svgd_particles", self.n_svgd_particles >= 2, "must be >= 2")
        n_fixed = round(self.svgd_fixed_fraction * self.n_svgd_particles)
        check(self, "svgd_fixed_fraction", 0 < n_fixed < self.n_svgd_particles,
              "must leave at least one fixed and one moved particle")


# ---------------------------------------------------------------- the math, as pure functions


def uniform_log_density(action_dim: int) -> float:
    """log q(a) of the uniform density over [-1, 1]^d: -d log 2 (the box has volume 2^d)."""
    return -action_dim * math.log(2.0)


def soft_value_is(q_values: torch.Tensor, log_q: torch.Tensor | float, alpha: float) -> torch.Tensor:
    """V(s) = alpha log E_{a~q}[exp(Q(s, a)/alpha) / q(a)] from the n samples on the last axis
    of `q_values`, with `log_q` their proposal log-densities (1702.08165 eq. 10). In log space,
    alpha (logsumexp(Q/alpha - log q) - log n), so that exp never overflows. With a uniform
    proposal over [-1, 1]^d, -log q = d log 2 adds the log of the box's volume."""
    n = q_values.shape[-1]
    return alpha * (torch.logsumexp(q_values / alpha - log_q, dim=-1) - math.log(n))


def rbf_kernel(
    x: torch.Tensor, y: torch.Tensor, bandwidth: torch.Tensor | float | None = None, h_min: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor]:
    """k(x_j, y_i) = exp(-|x_j - y_i|^2 / h) for x (..., Kx, D), y (..., Ky, D): the kernel
    matrix (..., Kx, Ky) and its gradient w.r.t. x_j, (..., Kx, Ky, D).

    Without `bandwidth`, h is the median heuristic of SVGD (1608.04471 Sec. 5), h = med^2 /
    log(Kx + 1) with med^2 the median squared distance of each set's pairs (the paper's code:
    adaptive_isotropic_gaussian_kernel), floored at `h_min`. h is a constant of the gradient:
    SVGD treats the bandwidth as fixed within a step."""
    diff = x.unsqueeze(-2) - y.unsqueeze(-3)
    dist_sq = diff.pow(2).sum(-1)
    if bandwidth is None:
        med_sq = dist_sq.flatten(-2).median(dim=-1).values.detach()
        h = (med_sq / math.log(x.shape[-2] + 1)).clamp_min(h_min)[..., None, None]
    else:
        h = torch.as_tensor(bandwidth, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-dist_sq / h)
    kernel_grad = -2.0 * diff / h.unsqueeze(-1) * kernel.unsqueeze(-1)
    return kernel, kernel_grad


def svgd_direction(grad_log_p: torch.Tensor, kernel: torch.Tensor, kernel_grad: torch.Tensor) -> torch.Tensor:
    """phi(y_i) = mean_j [k(x_j, y_i) grad log p(x_j) + grad_{x_j} k(x_j, y_i)] (1702.08165
    eq. 13; 1608.04471 eq. 8): the first term pulls y_i up the density, the second pushes it
    away from the x_j, which is what keeps the particles spread over every mode.
    grad_log_p (..., Kx, D) at the x_j; kernel and kernel_grad as rbf_kernel returns them.
    Returns (..., Ky, D)."""
    drive = torch.einsum("...jk,...jd->...kd", kernel, grad_log_p)
    return (drive + kernel_grad.sum(-3)) / kernel.shape[-2]


def squash_log_det(action: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """sum_i log(1 - a_i^2 + eps): log |det da/du| for a = tanh(u) (the paper's code, `EPS` 1e-6
    keeps it finite at a saturated |a| = 1)."""
    return torch.log(1.0 - action.pow(2) + eps).sum(-1)


def svgd_surrogate(
    actions: torch.Tensor, log_p: Callable[[torch.Tensor], torch.Tensor], n_fixed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A loss whose gradient w.r.t. the sampler's parameters is minus the SVGD direction pushed
    back through the moved particles (1702.08165 eq. 14), and that direction (..., K - n_fixed, D).

    `actions` (..., K, D) come from the sampler; the first `n_fixed` carry the expectation over
    j (detached, as the paper's code), the rest are moved. `log_p` maps particles (..., n, D)
    to their unnormalised target log-density (..., n); only its gradient w.r.t. them is used."""
    fixed, moved = actions.split([n_fixed, actions.shape[-2] - n_fixed], dim=-2)
    fixed = fixed.detach().requires_grad_(True)
    # autograd.grad w.r.t. the particles only: no gradient lands in the Q-network's weights.
    (grad_log_p,) = torch.autograd.grad(log_p(fixed).sum(), fixed)
    kernel, kernel_grad = rbf_kernel(fixed.detach(), moved.detach())
    phi = svgd_direction(grad_log_p, kernel, kernel_grad)
    # d/dtheta of -(phi . a_theta) is -phi da/dtheta: a descent step moves each particle along phi.
    return -(phi * moved).sum(-1).mean(), phi


# ---------------------------------------------------------------- the networks


def q_values(q: nn.Module, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Q(s, a) for obs (B, obs_dim) and n actions per state, (B, n, D) -> (B, n)."""
    obs = obs.unsqueeze(-2).expand(*actions.shape[:-1], obs.shape[-1])
    return q(torch.cat([obs, actions], dim=-1)).squeeze(-1)


class Sampler(nn.Module):
    """a = tanh(f(s, xi)), xi ~ N(0, I) of the action's size: the amortized SVGD policy
    (1702.08165 Sec. 3.2); the tanh keeps actions in [-1, 1] as the paper's code."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.action_dim = action_dim
        self.f = mlp(obs_dim + action_dim, hidden, action_dim)

    def forward(self, obs: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        """obs (B, obs_dim), xi (B, n, D) -> actions (B, n, D)."""
        obs = obs.unsqueeze(-2).expand(*xi.shape[:-1], obs.shape[-1])
        return torch.tanh(self.f(torch.cat([obs, xi], dim=-1)))

    def sample(self, obs: torch.Tensor, n: int) -> torch.Tensor:
        xi = torch.randn(obs.shape[0], n, self.action_dim, device=obs.device)
        return self(obs, xi)


# ---------------------------------------------------------------- the agent


class SoftQLearning:
    """Owns the Q-network, its target, the sampler and their optimizers."""

    Config = SQLConfig

    def __init__(self, obs_dim: int, action_dim: int, cfg: SQLConfig, device: str = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.action_dim = action_dim
        self.q = mlp(obs_dim + action_dim, cfg.hidden, 1).to(self.device)
        self.q_target = mlp(obs_dim + action_dim, cfg.hidden, 1).to(self.device)
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.sampler = Sampler(obs_dim, action_dim, cfg.hidden).to(self.device)
        # Fused Adam, as in agents/sac.py: one kernel per step.
        self.q_opt = torch.optim.Adam(self.q.parameters(), lr=cfg.q_lr, fused=True)
        self.sampler_opt = torch.optim.Adam(self.sampler.parameters(), lr=cfg.policy_lr, fused=True)
        self.n_fixed = round(cfg.svgd_fixed_fraction * cfg.n_svgd_particles)
        self.log_q_uniform = uniform_log_density(action_dim)
        self._online = list(self.q.parameters())
        self._target = list(self.q_target.parameters())
        self.n_updates = 0

    @classmethod
    def build(cls, obs_dim: int, action_space, cfg: SQLConfig, device: str = "cpu") -> SoftQLearning:
        from agents.registry import require_box

        return cls(obs_dim, require_box(action_space, "SQL"), cfg, device)

    # acting ----------------------------------------------------------------
    @torch.inference_mode()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """A sample of the sampler; deterministic: its action at xi = 0, the image of the noise's
        mode (one action of a multimodal policy, not necessarily at one of its modes)."""
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)
        xi = torch.zeros if deterministic else torch.randn
        return self.sampler(o, xi(1, 1, self.action_dim, device=self.device))[0, 0].cpu().numpy()

    def log_p(self, obs: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The SVGD target's log-density over the actions at `obs`: Q(s, a)/alpha (eq. 13), with
        the squash correction if the config asks for it."""
        def log_p(actions: torch.Tensor) -> torch.Tensor:
            out = q_values(self.q, obs, actions) / self.cfg.alpha
            return out + squash_log_det(actions) if self.cfg.squash_correction else out
        return log_p

    # learning --------------------------------------------------------------
    def update(self, batch: Batch) -> dict[str, float]:
        cfg = self.cfg
        with torch.no_grad():
            # Fresh uniform actions per next state: the proposal of eq. 10, q(a) = 2^-d.
            n = (batch.next_obs.shape[0], cfg.n_value_particles, self.action_dim)
            uniform = torch.rand(n, device=self.device) * 2.0 - 1.0
            next_v = soft_value_is(q_values(self.q_target, batch.next_obs, uniform), self.log_q_uniform,
                                   cfg.alpha)
            # Only termination stops bootstrapping: a time limit is not the end of the task.
            q_target = soft_q_target(batch.reward, batch.terminated, cfg.gamma, next_v)
        q = self.q(torch.cat([batch.obs, batch.action], dim=-1)).squeeze(-1)
        loss_q = 0.5 * (q - q_target).pow(2).mean()  # eq. 11
        self.q_opt.zero_grad(set_to_none=True)
        loss_q.backward()
        self.q_opt.step()

        actions = self.sampler.sample(batch.obs, cfg.n_svgd_particles)
        loss_pi, phi = svgd_surrogate(actions, self.log_p(batch.obs), self.n_fixed)
        self.sampler_opt.zero_grad(set_to_none=True)
        loss_pi.backward()
        self.sampler_opt.step()

        self.n_updates += 1
        if self.n_updates % cfg.target_update_interval == 0:
            polyak_update(self._online, self._target, cfg.tau)

        # One tensor, one conversion: each .item() is a sync and a Python call.
        alpha = torch.tensor(cfg.alpha, device=self.device)
        stats = torch.stack([loss_q.detach(), q.detach().mean(), next_v.mean(), alpha,
                             phi.norm(dim=-1).mean(), actions.detach().abs().mean()]).tolist()
        return dict(zip(_METRIC_KEYS, stats))

    # checkpoints -----------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "sampler": self.sampler.state_dict(),
            "q_opt": self.q_opt.state_dict(),
            "sampler_opt": self.sampler_opt.state_dict(),
            "n_updates": self.n_updates,
        }

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.sampler.load_state_dict(state["sampler"])
        self.q_opt.load_state_dict(state["q_opt"])
        self.sampler_opt.load_state_dict(state["sampler_opt"])
        self.n_updates = int(state["n_updates"])


_METRIC_KEYS = ("train/critic_loss", "train/q", "train/next_v", "train/alpha", "train/svgd_norm",
                "train/abs_action")
