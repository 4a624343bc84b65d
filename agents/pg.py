"""Maximum-entropy policy gradient: REINFORCE (Williams 1992) on the soft return of the notes.

J(pi) = E[sum_t gamma^t (r_t + alpha H(pi(.|s_t)))], estimated from whole episodes as in the
tabular version (agents/tabular/learning.py, `reinforce_gradient`): the gradient is
E[sum_t grad log pi(a_t|s_t) (G_t - b(s_t))] with the soft return-to-go
G_t = sum_{k >= t} gamma^(k-t) (r_k - alpha log pi(a_k|s_k)), whose expectation carries the
entropy bonus, and a learned state-value baseline b. On-policy, so it has its own small loop:
collect a batch of episodes with the current policy, take one gradient step, repeat.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from agents.config import check, layer_sizes, non_negative, positive
from agents.nets import mlp
from agents.tabular.sampling import rewards_to_go


@dataclass(frozen=True)
class PGConfig:
    hidden: tuple[int, ...] = (64, 64)
    """hidden layer sizes of the policy and of the baseline"""
    lr: float = 1e-2
    """Adam learning rate of the policy and of the baseline, decayed linearly to 0 over the
    iterations: a single-sample gradient estimate keeps kicking a policy that has arrived"""
    gamma: float = 0.99
    """discount factor"""
    alpha: float = 0.01
    """temperature: weight of the entropy bonus (0: plain REINFORCE)"""
    batch_steps: int = 5000
    """environment steps collected per update (whole episodes: the batch ends with an episode)"""
    iterations: int = 60
    """updates"""

    def __post_init__(self):
        layer_sizes(self, "hidden", min_layers=0)
        positive(self, "lr", "batch_steps", "iterations")
        non_negative(self, "alpha")
        check(self, "gamma", 0 <= self.gamma <= 1, "must be in [0, 1] (1: undiscounted episodes)")


# ---------------------------------------------------------------- the math, as pure functions


def soft_returns_to_go(rewards: torch.Tensor, log_pi: torch.Tensor, gamma: float,
                       alpha: float) -> torch.Tensor:
    """G_t = sum_{k >= t} gamma^(k-t) (r_k - alpha log pi(a_k|s_k)) along one episode: the
    tabular estimator's returns-to-go, a constant of the update (no gradient flows through it)."""
    x = (rewards - alpha * log_pi).detach().numpy()
    return torch.from_numpy(rewards_to_go(x, gamma)).to(rewards.dtype)


def reinforce_loss(log_pi: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """-mean_t log pi(a_t|s_t) A_t with A_t held fixed: its gradient is the REINFORCE estimate.
    The derivative of the -alpha log pi terms inside G_t has zero mean (E_a grad log pi = 0),
    so the advantage is detached, as in the tabular estimator."""
    return -(log_pi * advantage.detach()).mean()


class Policy(nn.Module):
    """A softmax policy over Discrete actions, or a Gaussian with a learned state-independent
    log std over Box actions (sampled actions are clipped to the bounds by the caller)."""

    def __init__(self, obs_dim: int, space: gym.Space, hidden: tuple[int, ...]):
        super().__init__()
        self.discrete = isinstance(space, gym.spaces.Discrete)
        out = int(space.n) if self.discrete else int(space.shape[0])
        self.net = mlp(obs_dim, hidden, out)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((out,), -0.5))

    def dist(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        out = self.net(obs)
        if self.discrete:
            return torch.distributions.Categorical(logits=out)
        return torch.distributions.Independent(torch.distributions.Normal(out, self.log_std.exp()), 1)


def train_maxent_pg(env: gym.Env, cfg: PGConfig, seed: int = 0,
                    on_iteration: Callable[[int, dict[str, float]], None] | None = None) -> Policy:
    """REINFORCE with the entropy bonus and a value baseline on `env`; returns the policy.
    `on_iteration(i, metrics)` sees each update's mean episode return and entropy."""
    torch.manual_seed(seed)
    obs_dim = env.observation_space.shape[0]
    policy = Policy(obs_dim, env.action_space, cfg.hidden)
    baseline = mlp(obs_dim, cfg.hidden, 1)
    opt = torch.optim.Adam([*policy.parameters(), *baseline.parameters()], lr=cfg.lr)
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / cfg.iterations)
    reset_seed = seed
    for i in range(cfg.iterations):
        states, actions, returns, ep_returns = [], [], [], []
        steps = 0
        while steps < cfg.batch_steps:
            ep = run_episode(env, policy, reset_seed)
            reset_seed = None  # seeded once: later resets continue the env's generator
            states.append(ep.obs[:-1])
            actions.append(ep.actions)
            returns.append(soft_returns_to_go(ep.rewards, ep.log_pi, cfg.gamma, cfg.alpha))
            ep_returns.append(float(ep.rewards.sum()))
            steps += len(ep.rewards)
        s, g = torch.cat(states), torch.cat(returns)
        d = policy.dist(s)
        log_pi = d.log_prob(torch.cat(actions))
        v = baseline(s).squeeze(-1)
        advantage = g - v
        # Normalised advantages: one learning rate serves returns of any scale (CartPole's reach 100).
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        loss = reinforce_loss(log_pi, advantage) + 0.5 * (v - g).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        decay.step()
        metrics = {"train/episode_return": float(np.mean(ep_returns)),
                   "train/entropy": float(d.entropy().mean().detach()),
                   "train/episodes": float(len(ep_returns))}
        if not all(math.isfinite(x) for x in metrics.values()):
            raise RuntimeError(f"iteration {i}: non-finite metrics {metrics}")
        if on_iteration is not None:
            on_iteration(i, metrics)
    return policy


class Episode(NamedTuple):
    """One episode of a policy, as tensors."""

    obs: torch.Tensor
    """s_0 .. s_T, (T + 1, obs_dim)"""
    actions: torch.Tensor
    """a_0 .. a_T-1"""
    log_pi: torch.Tensor
    """log pi(a_t|s_t) when the action was sampled, (T,)"""
    rewards: torch.Tensor
    """r_0 .. r_T-1, (T,)"""
    terminated: bool
    """whether s_T is terminal (value 0), not a time limit"""


@torch.no_grad()  # acting only: learners recompute log pi on the batch, with gradients
def run_episode(env: gym.Env, policy: Policy, seed: int | None = None) -> Episode:
    """One episode of `policy` from a reset of `env` (seeded if `seed` is given)."""
    obs, _ = env.reset(seed=seed)
    states, actions, log_pi, rewards, terminated, truncated = [], [], [], [], False, False
    while not (terminated or truncated):
        o = torch.as_tensor(obs, dtype=torch.float32)
        d = policy.dist(o)
        a = d.sample()
        states.append(o)
        actions.append(a)
        log_pi.append(d.log_prob(a))
        obs, r, terminated, truncated, _ = env.step(_env_action(policy, a, env))
        rewards.append(float(r))
    states.append(torch.as_tensor(obs, dtype=torch.float32))
    return Episode(torch.stack(states), torch.stack(actions), torch.stack(log_pi),
                   torch.tensor(rewards), bool(terminated))


def _env_action(policy: Policy, a: torch.Tensor, env: gym.Env):
    """The sampled action as the env takes it: an index, or a vector clipped to the bounds."""
    if policy.discrete:
        return a.item()
    return np.clip(a.numpy(), env.action_space.low, env.action_space.high)


def evaluate_policy(env: gym.Env, policy: Policy, episodes: int, seed: int) -> float:
    """Mean undiscounted return of the stochastic policy (the maxent policy is stochastic)."""
    return float(np.mean([run_episode(env, policy, seed + e).rewards.sum() for e in range(episodes)]))
