"""Soft Actor-Critic with an automatically tuned temperature (Haarnoja et al. 2018, 1812.05905).

The math is small pure functions (tensors in, tensors out); `SAC` owns the parameters and
optimizers and calls them. SAC knows nothing of skills: a skill-conditioned policy is SAC on
observations with the skill appended, and the reward is relabelled before `update` sees it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F

from agents.buffer import Batch
from agents.config import check, layer_sizes, non_negative, positive
from agents.nets import Actor, TwinCritic, upgrade_critic_optimizer

_LOG2 = math.log(2.0)


@dataclass(frozen=True)
class ActorCriticConfig:
    """What SAC and TD3 share: the networks, their optimisers, replay, and a temperature (TD3's
    soft variants use it too)."""

    hidden: tuple[int, ...] = (256, 256)
    """hidden layer sizes of the actor and of each critic"""
    actor_lr: float = field(default=3e-4, metadata={"group": "lr"})
    """Adam learning rate of the actor"""
    critic_lr: float = field(default=3e-4, metadata={"group": "lr"})
    """Adam learning rate of the critics"""
    alpha_lr: float = field(default=3e-4, metadata={"group": "lr"})
    """Adam learning rate of log_alpha"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """Polyak averaging coefficient of the target networks"""
    batch_size: int = 256
    """transitions per gradient step"""
    gradient_steps: int = 1
    """gradient steps per round of updates (per environment step with train_freq 1: the
    update-to-data ratio)"""
    train_freq: int = field(default=1, metadata={"cli": False})
    """environment steps between rounds of gradient_steps updates (SB3's train_freq): with
    gradient_steps 1, an update-to-data ratio of 1/train_freq. Updates set the speed on a CPU, so
    a ratio below 1 collects more experience per hour (METRA's code trains 50 steps per 1600)"""
    learning_starts: int = 5000
    """environment steps of uniform random actions before the first update"""
    buffer_size: int = 1_000_000
    """replay buffer capacity"""
    alpha: float | None = None
    """fixed temperature; None learns log_alpha (the DIAYN paper used a fixed 0.1)"""
    init_alpha: float = 1.0
    """initial temperature when it is learned"""
    target_entropy: float | None = None
    """entropy target for the learned temperature; None means -dim(A)"""
    precision: Literal["float32", "bfloat16"] = "float32"
    """the hidden layers' matrix products: "bfloat16" runs them in bfloat16 (parameters, Adam,
    log-probabilities and Q-values stay float32): 18% off an update on a CPU with AMX (Intel
    Xeon since Sapphire Rapids); without bfloat16 units in the hardware, expect it slower"""

    def __post_init__(self):
        layer_sizes(self, "hidden")  # the twin critic needs a hidden layer to batch over
        check(self, "precision", self.precision in ("float32", "bfloat16"), 'must be "float32" or "bfloat16"')
        positive(self, "actor_lr", "critic_lr", "alpha_lr", "batch_size", "gradient_steps",
                 "train_freq", "buffer_size", "init_alpha")
        non_negative(self, "learning_starts", "alpha")
        check(self, "gamma", 0 <= self.gamma < 1, "must be in [0, 1)")
        check(self, "tau", 0 < self.tau <= 1, "must be in (0, 1]")


@dataclass(frozen=True)
class SACConfig(ActorCriticConfig):
    algo: ClassVar[str] = "sac"

    target_update_interval: int = 1
    """gradient steps between Polyak updates of the target critics"""

    def __post_init__(self):
        super().__post_init__()
        positive(self, "target_update_interval")


# ---------------------------------------------------------------- the math, as pure functions


def tanh_gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log pi(a|s) for a = tanh(u), u ~ N(mean, std^2): the change of variables (SAC eq. 26)
    log pi(a|s) = log N(u) - sum_i log(1 - tanh(u_i)^2), with the last term in the stable form
    log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) so it never evaluates log(0)."""
    z = (u - mean) * torch.exp(-log_std)
    log_normal = -0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    log_det = 2.0 * (_LOG2 - u - F.softplus(-2.0 * u))
    return (log_normal - log_det).sum(-1)


def sample_action(mean: torch.Tensor, log_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterised sample a = tanh(mean + std * eps) and its log-probability."""
    u = mean + torch.exp(log_std) * torch.randn_like(mean)
    return torch.tanh(u), tanh_gaussian_log_prob(u, mean, log_std)


def sac_target(
    reward: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
    next_q: torch.Tensor,
    next_log_pi: torch.Tensor,
    alpha: torch.Tensor | float,
) -> torch.Tensor:
    """y = r + gamma (1 - terminated) (min_i Q_i(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s').

    `next_q` is (n_critics, B); the min over critics counters overestimation (TD3's clipped
    double Q). Only termination stops bootstrapping: a time-limit truncation is not an end of
    the task, so its next state's value still counts."""
    soft_v = next_q.min(dim=0).values - alpha * next_log_pi
    return reward + gamma * (1.0 - terminated) * soft_v


def critic_loss(q: torch.Tensor, q_target: torch.Tensor) -> torch.Tensor:
    """0.5 * sum over critics of the mean squared soft Bellman error (SAC eq. 5)."""
    return 0.5 * (q - q_target.unsqueeze(0)).pow(2).mean(dim=1).sum()


def actor_loss(log_pi: torch.Tensor, q_pi: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """E[alpha log pi(a|s) - min_i Q_i(s, a)], a reparameterised (SAC eq. 7)."""
    return (alpha * log_pi - q_pi).mean()


def alpha_grad(log_pi: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """d/d log_alpha of the temperature loss -log_alpha * E[log pi + H_target] (1812.05905 eq. 18,
    in log space as SB3 and CleanRL): -E[log pi + H_target]. When the entropy -E[log pi] is below
    the target it is negative, and a descent step makes alpha grow."""
    return -(log_pi.detach().mean() + target_entropy)


def step_temperature(log_alpha: torch.Tensor, opt: torch.optim.Optimizer, log_pi: torch.Tensor,
                     target_entropy: float) -> None:
    """One optimiser step on log_alpha. The gradient is set in closed form: autograd's backward
    pass through a one-parameter loss was two thirds of this step's ~150 us on a CPU."""
    log_alpha.grad = alpha_grad(log_pi, target_entropy)
    opt.step()


@torch.no_grad()
def polyak_update(params: list[torch.Tensor], target_params: list[torch.Tensor], tau: float) -> None:
    """target <- (1 - tau) target + tau online, all tensors in one fused call."""
    torch._foreach_lerp_(target_params, params, tau)


# ---------------------------------------------------------------- the agent


def _adam(params, lr: float) -> torch.optim.Adam:
    # Fused Adam does the whole step in one kernel, where foreach Adam launches one per tensor
    # list: updates are many small ops on a CPU, and each op has a fixed cost.
    return torch.optim.Adam(params, lr=lr, fused=True)


def temperature(cfg: ActorCriticConfig, action_dim: int, device: torch.device, fixed: float | None = None
                ) -> tuple[bool, torch.Tensor, torch.optim.Adam | None, float]:
    """(learned?, log_alpha, its optimizer or None, the entropy target) from `cfg`: alpha learned
    from cfg.init_alpha when cfg.alpha is None, else fixed at cfg.alpha (or at `fixed`, which an
    agent without an entropy term passes as 0)."""
    value = fixed if fixed is not None else cfg.alpha
    learn = value is None
    init = cfg.init_alpha if learn else value
    # alpha = 0 is plain (hard) RL: log 0 = -inf, and exp(-inf) gives back exactly 0.
    log_alpha = torch.tensor(math.log(init) if init > 0 else -math.inf, device=device, requires_grad=learn)
    target = float(-action_dim if cfg.target_entropy is None else cfg.target_entropy)
    return learn, log_alpha, _adam([log_alpha], cfg.alpha_lr) if learn else None, target


class SAC:
    """Owns the actor, the twin critics and their targets, log_alpha and the optimizers."""

    Config = SACConfig

    def __init__(self, obs_dim: int, action_dim: int, cfg: SACConfig, device: str = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        dtype = getattr(torch, cfg.precision)
        self.actor = Actor(obs_dim, action_dim, cfg.hidden, dtype).to(self.device)
        self.critic = TwinCritic(obs_dim, action_dim, cfg.hidden, dtype=dtype).to(self.device)
        self.critic_target = TwinCritic(obs_dim, action_dim, cfg.hidden, dtype=dtype).to(self.device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.actor_opt = _adam(self.actor.parameters(), cfg.actor_lr)
        self.critic_opt = _adam(self.critic.parameters(), cfg.critic_lr)
        self.learn_alpha, self.log_alpha, self.alpha_opt, self.target_entropy = temperature(
            cfg, action_dim, self.device)
        self._online = list(self.critic.parameters())
        self._target = list(self.critic_target.parameters())
        self.n_updates = 0

    # acting ----------------------------------------------------------------
    @torch.inference_mode()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)
        mean, log_std = self.actor(o)
        if deterministic:
            a = torch.tanh(mean)
        else:
            a = torch.tanh(mean + torch.exp(log_std) * torch.randn_like(mean))
        return a[0].cpu().numpy()

    # learning --------------------------------------------------------------
    def update(self, batch: Batch) -> dict[str, float]:
        cfg = self.cfg
        mean, log_std = self.actor(batch.obs)
        action_pi, log_pi = sample_action(mean, log_std)

        # The alpha of this step's losses is the one before its update, as in SB3 (exp() makes
        # a new tensor, so the in-place optimiser step below does not change it).
        alpha = self.log_alpha.detach().exp()
        if self.learn_alpha:
            step_temperature(self.log_alpha, self.alpha_opt, log_pi, self.target_entropy)

        with torch.no_grad():
            next_action, next_log_pi = sample_action(*self.actor(batch.next_obs))
            next_q = self.critic_target(batch.next_obs, next_action)
            q_target = sac_target(batch.reward, batch.terminated, cfg.gamma, next_q, next_log_pi, alpha)
        q = self.critic(batch.obs, batch.action)
        loss_q = critic_loss(q, q_target)
        self.critic_opt.zero_grad(set_to_none=True)
        loss_q.backward()
        self.critic_opt.step()

        q_pi = self.critic(batch.obs, action_pi, detach=True).min(dim=0).values
        loss_pi = actor_loss(log_pi, q_pi, alpha)
        self.actor_opt.zero_grad(set_to_none=True)
        loss_pi.backward()
        self.actor_opt.step()

        self.n_updates += 1
        if self.n_updates % cfg.target_update_interval == 0:
            polyak_update(self._online, self._target, cfg.tau)

        # One tensor, one conversion: each .item() is a sync and a Python call.
        stats = torch.stack([loss_q.detach(), loss_pi.detach(), alpha, -log_pi.detach().mean(),
                             q.detach().mean()]).tolist()
        return dict(zip(_METRIC_KEYS, stats))

    # checkpoints -----------------------------------------------------------
    def state_dict(self) -> dict:
        state = {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "n_updates": self.n_updates,
        }
        # A fixed temperature comes from the config; its log is -inf when it is 0, which the
        # loop's check for diverged parameters would take for one.
        if math.isfinite(self.log_alpha.item()):
            state["log_alpha"] = self.log_alpha.detach().clone()
        if self.alpha_opt is not None:
            state["alpha_opt"] = self.alpha_opt.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        critic_opt = upgrade_critic_optimizer(state["critic_opt"], state["critic"])
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(critic_opt)
        if self.learn_alpha:
            with torch.no_grad():
                self.log_alpha.copy_(state["log_alpha"])
            self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.n_updates = int(state["n_updates"])

    @classmethod
    def build(cls, obs_dim: int, action_space, cfg: SACConfig, device: str = "cpu") -> SAC:
        from agents.registry import require_box

        return cls(obs_dim, require_box(action_space, "SAC"), cfg, device)


_METRIC_KEYS = ("train/critic_loss", "train/actor_loss", "train/alpha", "train/entropy", "train/q")
