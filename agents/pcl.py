"""Path Consistency Learning with networks (Nachum, Norouzi, Xu & Schuurmans 2017, arXiv
1702.08892), discrete actions; the exact tabular form and its checks are agents/tabular/pcl.py.

A softmax policy pi_theta and a value V_phi are trained together to drive the soft consistency
error of every length-d window of an episode to 0,
    C(s_t:t+d) = -V(s_t) + gamma^d V(s_t+d) + sum_{i<d} gamma^i (r_t+i - alpha log pi(a_t+i|s_t+i)),
by gradient descent on 0.5 C^2 (the paper's updates, eqs. 14-15, with alpha kept in the
gradient and one learning rate per network). A window that runs past the episode's end is the
paper's shorter final window: nothing is earned after the end, V of a terminal state is 0 and
a time limit bootstraps from V of the last state. The identity holds on any path, so each
update mixes fresh episodes with episodes replayed from a buffer (off-policy).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from agents.config import ConfigError, check, layer_sizes, non_negative, positive
from agents.nets import mlp
from agents.pg import Episode, Policy, run_episode


@dataclass(frozen=True)
class DeepPCLConfig:
    hidden: tuple[int, ...] = (64, 64)
    """hidden layer sizes of the policy and of the value network"""
    pi_lr: float = field(default=3e-4, metadata={"group": "lr"})
    """Adam learning rate of the policy"""
    v_lr: float = field(default=3e-3, metadata={"group": "lr"})
    """Adam learning rate of the value network: ten times the policy's, so V tracks the
    policy's soft value and the consistency error speaks of the policy, not of a stale V"""
    gamma: float = 0.99
    """discount factor"""
    alpha: float = 0.02
    """temperature (the paper's tau)"""
    d: int = 20
    """window (rollout) length of the path consistency"""
    episodes: int = 1
    """fresh on-policy episodes per update"""
    replay_episodes: int = 8
    """episodes replayed from the buffer per update (0: on-policy PCL)"""
    replay_updates: int = 4
    """extra updates on replayed episodes alone after each fresh one: more gradient steps per
    env step, as the paper's off-policy PCL takes a replay step after every on-policy one"""
    buffer_episodes: int = 1000
    """replay buffer capacity, in episodes"""
    total_steps: int = 500_000
    """environment steps of training (CartPole-v1: 484 over 3 seeds, each above 475, where 300k
    gave 475.0 with two seeds below it: the policy only starts to hold there)"""
    lr_decay: bool = True
    """decay both learning rates linearly to 0 over total_steps: a policy that has arrived
    keeps being kicked by single-episode gradients otherwise"""

    def __post_init__(self):
        layer_sizes(self, "hidden", min_layers=0)
        positive(self, "pi_lr", "v_lr", "d", "episodes", "buffer_episodes", "total_steps")
        non_negative(self, "alpha", "replay_episodes", "replay_updates")
        check(self, "gamma", 0 <= self.gamma <= 1, "must be in [0, 1]")


# ---------------------------------------------------------------- the math, as pure functions


def window_consistency(values: torch.Tensor, log_pi: torch.Tensor, rewards: torch.Tensor,
                       gamma: float, alpha: float, d: int) -> torch.Tensor:
    """C of the window starting at every step t of one episode, shape (T,).

    values: V(s_0) .. V(s_T), (T + 1,), with V(s_T) already 0 if s_T is terminal; log_pi and
    rewards: (T,). The window from t ends at e = min(t + d, T): steps past the end add nothing
    and the bootstrap is gamma^(e - t) V(s_e)."""
    T = rewards.shape[0]
    x = torch.cat([rewards - alpha * log_pi, rewards.new_zeros(d - 1)])
    discounts = gamma ** torch.arange(d, dtype=rewards.dtype, device=rewards.device)
    paths = x.unfold(0, d, 1) @ discounts  # (T,): sum_{i<d} gamma^i x_{t+i}, zero past the end
    t = torch.arange(T, device=rewards.device)
    end = torch.clamp(t + d, max=T)
    return -values[:-1] + gamma ** (end - t).to(rewards.dtype) * values[end] + paths


# ---------------------------------------------------------------- the learner


def _consistency_loss(policy: Policy, value: torch.nn.Module, episodes: list[Episode],
                      cfg: DeepPCLConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean 0.5 C^2 over every window of every episode, and the mean |C|."""
    errors = []
    for ep in episodes:
        v = value(ep.obs).squeeze(-1)
        if ep.terminated:
            v = torch.cat([v[:-1], v.new_zeros(1)])
        log_pi = policy.dist(ep.obs[:-1]).log_prob(ep.actions)
        errors.append(window_consistency(v, log_pi, ep.rewards, cfg.gamma, cfg.alpha, cfg.d))
    c = torch.cat(errors)
    return 0.5 * c.pow(2).mean(), c.detach().abs().mean()


def _sample(buffer: deque[Episode], n: int, rng: np.random.Generator) -> list[Episode]:
    """n distinct episodes of the buffer, uniformly (fewer while it holds fewer)."""
    n = min(n, len(buffer))
    return [buffer[i] for i in rng.choice(len(buffer), n, replace=False)] if n else []


def _step(policy: Policy, value: torch.nn.Module, opt: torch.optim.Optimizer, episodes: list[Episode],
          cfg: DeepPCLConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """One gradient step on the episodes' mean 0.5 C^2; the loss and mean |C| before it."""
    loss, abs_c = _consistency_loss(policy, value, episodes, cfg)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss, abs_c


def train_pcl(env: gym.Env, cfg: DeepPCLConfig, seed: int = 0,
              on_update: Callable[[int, dict[str, float]], None] | None = None) -> Policy:
    """PCL on `env` (Discrete actions) for cfg.total_steps env steps; returns the policy.
    `on_update(env_steps, metrics)` sees each update's consistency error, the fresh episodes'
    mean return and the policy's entropy on them."""
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise ConfigError(f"PCL here takes discrete actions, not {env.action_space}: pick an env "
                          "with a Discrete action space (or SAC/TD3/SQL for continuous ones)")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    obs_dim = env.observation_space.shape[0]
    policy = Policy(obs_dim, env.action_space, cfg.hidden)
    value = mlp(obs_dim, cfg.hidden, 1)
    opt = torch.optim.Adam([{"params": policy.parameters(), "lr": cfg.pi_lr},
                            {"params": value.parameters(), "lr": cfg.v_lr}])
    lrs = (cfg.pi_lr, cfg.v_lr)
    buffer: deque[Episode] = deque(maxlen=cfg.buffer_episodes)
    steps, reset_seed, update = 0, seed, 0
    while steps < cfg.total_steps:
        fresh = [run_episode(env, policy, reset_seed) for _ in range(cfg.episodes)]
        reset_seed = None  # seeded once: later resets continue the env's generator
        steps += sum(len(ep.rewards) for ep in fresh)
        if cfg.lr_decay:
            for group, lr in zip(opt.param_groups, lrs):
                group["lr"] = lr * max(0.0, 1 - steps / cfg.total_steps)
        _, abs_c = _step(policy, value, opt, fresh + _sample(buffer, cfg.replay_episodes, rng), cfg)
        buffer.extend(fresh)
        for _ in range(cfg.replay_updates):
            _step(policy, value, opt, _sample(buffer, cfg.replay_episodes, rng), cfg)
        update += 1
        with torch.no_grad():
            entropy = policy.dist(torch.cat([ep.obs[:-1] for ep in fresh])).entropy().mean()
        metrics = {"train/consistency": float(abs_c), "train/episode_return":
                   float(np.mean([ep.rewards.sum() for ep in fresh])), "train/entropy": float(entropy)}
        if not all(math.isfinite(x) for x in metrics.values()):
            raise RuntimeError(f"update {update}: non-finite metrics {metrics}")
        if on_update is not None:
            on_update(steps, metrics)
    return policy
