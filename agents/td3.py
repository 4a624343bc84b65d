"""TD3 (Fujimoto, van Hoof & Meger 2018, arXiv 1802.09477) and its maximum-entropy twin, soft TD3;
DDPG (Lillicrap et al. 2015) and soft DDPG as the same code with one critic and no delay.

TD3 is the standard-RL baseline for SAC: a deterministic actor mu(s), clipped double Q, target
policy smoothing (the target action is mu'(s') plus clipped Gaussian noise) and delayed actor and
target updates (every `policy_delay` critic steps). Soft TD3 keeps TD3's delay and smoothing but
optimises the entropy-augmented objective of the notes: a tanh-Gaussian actor, the soft target
min Q'(s', a') - alpha log pi'(a'|s') and an auto-tuned temperature, as SAC. With alpha = 0 and
the Gaussian's spread removed it is TD3 (tests/test_td3.py checks the actor loss).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from agents.buffer import Batch
from agents.config import non_negative, positive
from agents.nets import Actor, TwinCritic, upgrade_critic_optimizer
from agents.sac import (
    ActorCriticConfig,
    _adam,
    critic_loss,
    polyak_update,
    sample_action,
    step_temperature,
    temperature,
)

# The four variants of one algorithm: `--algo NAME` starts from these settings.
VARIANTS = {
    "td3": {},
    "soft-td3": {"soft": True},
    "ddpg": {"n_critics": 1, "policy_delay": 1, "target_noise": 0.0},
    "soft-ddpg": {"soft": True, "n_critics": 1, "policy_delay": 1, "target_noise": 0.0},
}


@dataclass(frozen=True)
class TD3Config(ActorCriticConfig):
    algo: ClassVar[str] = "td3"

    # TD3's and SB3's learning rate; the rest of the shared fields keep SAC's defaults.
    actor_lr: float = field(default=1e-3, metadata={"group": "lr"})
    critic_lr: float = field(default=1e-3, metadata={"group": "lr"})
    alpha_lr: float = field(default=1e-3, metadata={"group": "lr"})
    soft: bool = False
    """maximum entropy: a tanh-Gaussian actor and the entropy bonus in the target (soft TD3)"""
    n_critics: int = 2
    """critics; the target takes their minimum (2: TD3's clipped double Q; 1: DDPG)"""
    policy_delay: int = 2
    """critic updates per actor and target update (TD3's delay; 1: DDPG)"""
    target_noise: float = 0.2
    """std of the Gaussian noise on the target action (target policy smoothing; 0: DDPG)"""
    noise_clip: float = 0.5
    """the target noise is clipped to +-this"""
    exploration_noise: float = 0.1
    """std of the Gaussian noise on a deterministic actor's actions while training"""

    def __post_init__(self):
        super().__post_init__()
        positive(self, "n_critics", "policy_delay")
        non_negative(self, "target_noise", "noise_clip", "exploration_noise")


# ---------------------------------------------------------------- the math, as pure functions


def smoothed_target_action(mu: torch.Tensor, noise_std: float, noise_clip: float,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """a' = clip(mu'(s') + clip(eps, -c, c), -1, 1), eps ~ N(0, sigma^2) (TD3 eq. 14): the target
    is averaged over nearby actions, so the critic cannot exploit a narrow peak of its own."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device) * noise_std
    return (mu + eps.clamp(-noise_clip, noise_clip)).clamp(-1.0, 1.0)


def td3_target(reward: torch.Tensor, terminated: torch.Tensor, gamma: float, next_q: torch.Tensor,
               next_log_pi: torch.Tensor | float = 0.0, alpha: torch.Tensor | float = 0.0) -> torch.Tensor:
    """y = r + gamma (1 - terminated) (min_i Q'_i(s', a') - alpha log pi'(a'|s')): TD3's clipped
    double-Q target (eq. 10), with the entropy bonus of soft TD3 (alpha = 0: TD3)."""
    return reward + gamma * (1.0 - terminated) * (next_q.min(dim=0).values - alpha * next_log_pi)


def deterministic_actor_loss(q1: torch.Tensor) -> torch.Tensor:
    """-E[Q_1(s, mu(s))]: the deterministic policy gradient through the first critic (TD3 eq. 6)."""
    return -q1.mean()


def soft_actor_loss(q1: torch.Tensor, log_pi: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """E[alpha log pi(a|s) - Q_1(s, a)], a reparameterised: SAC's actor loss on TD3's first
    critic; alpha = 0 and no spread gives deterministic_actor_loss."""
    return (alpha * log_pi - q1).mean()


# ---------------------------------------------------------------- the agent


class TD3:
    """Owns the actor, the critics, their targets, (soft) log_alpha and the optimizers."""

    Config = TD3Config

    def __init__(self, obs_dim: int, action_dim: int, cfg: TD3Config, device: str = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        # The actor's output is a mean and a log std; a deterministic actor uses only the mean.
        dtype = getattr(torch, cfg.precision)
        self.actor = Actor(obs_dim, action_dim, cfg.hidden, dtype).to(self.device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic = TwinCritic(obs_dim, action_dim, cfg.hidden, n_critics=cfg.n_critics,
                                 dtype=dtype).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = _adam(self.actor.parameters(), cfg.actor_lr)
        self.critic_opt = _adam(self.critic.parameters(), cfg.critic_lr)
        self.learn_alpha, self.log_alpha, self.alpha_opt, self.target_entropy = temperature(
            cfg, action_dim, self.device, fixed=None if cfg.soft else 0.0)
        self._online = list(self.critic.parameters()) + list(self.actor.parameters())
        self._target = list(self.critic_target.parameters()) + list(self.actor_target.parameters())
        self.n_updates = 0
        self._last_actor: dict[str, float] = {"train/actor_loss": 0.0, "train/entropy": 0.0}

    @classmethod
    def build(cls, obs_dim: int, action_space, cfg: TD3Config, device: str = "cpu") -> TD3:
        from agents.registry import require_box

        return cls(obs_dim, require_box(action_space, "TD3"), cfg, device)

    def _policy(self, actor, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(action, log pi): sampled from the tanh-Gaussian (soft), or tanh(mean) with log pi 0."""
        mean, log_std = actor(obs)
        if self.cfg.soft:
            return sample_action(mean, log_std)
        return torch.tanh(mean), torch.zeros(mean.shape[0], device=mean.device)

    @torch.inference_mode()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)
        mean, log_std = self.actor(o)
        if deterministic:
            a = torch.tanh(mean)
        elif self.cfg.soft:
            a = torch.tanh(mean + torch.exp(log_std) * torch.randn_like(mean))
        else:
            a = (torch.tanh(mean) + self.cfg.exploration_noise * torch.randn_like(mean)).clamp(-1, 1)
        return a[0].cpu().numpy()

    def update(self, batch: Batch) -> dict[str, float]:
        cfg = self.cfg
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            next_action, next_log_pi = self._policy(self.actor_target, batch.next_obs)
            # Soft variants smooth on top of their own sample; log pi' is the sample's, before it.
            if cfg.target_noise > 0:
                next_action = smoothed_target_action(next_action, cfg.target_noise, cfg.noise_clip)
            next_q = self.critic_target(batch.next_obs, next_action)
            q_target = td3_target(batch.reward, batch.terminated, cfg.gamma, next_q, next_log_pi, alpha)
        q = self.critic(batch.obs, batch.action)
        loss_q = critic_loss(q, q_target)
        self.critic_opt.zero_grad(set_to_none=True)
        loss_q.backward()
        self.critic_opt.step()
        self.n_updates += 1

        # Delayed: the actor follows a critic that has had `policy_delay` steps to settle.
        if self.n_updates % cfg.policy_delay == 0:
            action, log_pi = self._policy(self.actor, batch.obs)
            q1 = self.critic(batch.obs, action, detach=True)[0]
            loss_pi = soft_actor_loss(q1, log_pi, alpha) if cfg.soft else deterministic_actor_loss(q1)
            self.actor_opt.zero_grad(set_to_none=True)
            loss_pi.backward()
            self.actor_opt.step()
            if self.learn_alpha:
                step_temperature(self.log_alpha, self.alpha_opt, log_pi, self.target_entropy)
            polyak_update(self._online, self._target, cfg.tau)
            self._last_actor = dict(zip(("train/actor_loss", "train/entropy"),
                                        torch.stack([loss_pi.detach(), -log_pi.detach().mean()]).tolist()))
        stats = torch.stack([loss_q.detach(), q.detach().mean(), alpha]).tolist()
        return {**dict(zip(("train/critic_loss", "train/q", "train/alpha"), stats)), **self._last_actor}

    def state_dict(self) -> dict:
        state = {name: getattr(self, name).state_dict() for name in
                 ("actor", "actor_target", "critic", "critic_target", "actor_opt", "critic_opt")}
        state["n_updates"] = self.n_updates
        if self.learn_alpha:  # a fixed temperature comes from the config
            state.update(log_alpha=self.log_alpha.detach().clone(), alpha_opt=self.alpha_opt.state_dict())
        return state

    def load_state_dict(self, state: dict) -> None:
        self.critic_opt.load_state_dict(upgrade_critic_optimizer(state["critic_opt"], state["critic"]))
        for name in ("actor", "actor_target", "critic", "critic_target", "actor_opt"):
            getattr(self, name).load_state_dict(state[name])
        if self.learn_alpha:
            with torch.no_grad():
                self.log_alpha.copy_(state["log_alpha"])
            self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.n_updates = int(state["n_updates"])
