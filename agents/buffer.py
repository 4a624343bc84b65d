"""A preallocated replay buffer that stores the skill next to each transition.

Storage is numpy (a single-row write is several times cheaper than a torch index-put) with torch views
that share the memory, so sampling a batch is one `index_select` per field and no copy from
numpy to torch. The skill is stored with every transition, as URLB stores its "meta".
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from agents.memory import check_fits


class Batch(NamedTuple):
    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    skill: torch.Tensor
    next_feature: torch.Tensor
    """what a skill discriminator sees of s' (the same tensor as next_obs unless the env
    exposes a separate feature, such as the x-y of a robot's torso)"""
    steps: torch.Tensor | None = None
    """robot steps n the transition spans, float (1 but for a hierarchy's choice of a skill for
    k of them, or fewer where the episode ended first): an agent that honours it discounts s'
    by gamma^n (the semi-MDP Bellman equation). None: one step each"""


class ReplayBuffer:
    """Ring buffer of (obs, action, reward, next_obs, terminated, skill, steps[, next_feature]).

    `next_obs` is the true next observation, also at a time-limit truncation, where the env has
    already been reset: the caller stores the final observation, not the reset one.
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, feature_dim: int = 0,
                 device: str = "cpu", skill_dim: int = 0):
        """`skill_dim` 0 stores a skill as an integer (one of K), d > 0 as a float vector of d
        entries (a continuous skill z)."""
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        # obs and next_obs, action, feature: float32; reward, terminated, steps: float32; skill:
        # int64, or float32 vectors
        row = 4 * (2 * obs_dim + action_dim + feature_dim + 3) + (4 * skill_dim or 8)
        check_fits(capacity * row, f"a replay buffer of {capacity} transitions",
                   "lower buffer_size or total_steps")
        self.capacity = capacity
        self.device = torch.device(device)
        self._np = {
            "obs": np.zeros((capacity, obs_dim), np.float32),
            "action": np.zeros((capacity, action_dim), np.float32),
            "reward": np.zeros(capacity, np.float32),
            "next_obs": np.zeros((capacity, obs_dim), np.float32),
            "terminated": np.zeros(capacity, np.float32),
            "skill": (np.zeros((capacity, skill_dim), np.float32) if skill_dim
                      else np.zeros(capacity, np.int64)),
            "steps": np.ones(capacity, np.float32),
        }
        if feature_dim:
            self._np["next_feature"] = np.zeros((capacity, feature_dim), np.float32)
        self._torch = {k: torch.from_numpy(v) for k, v in self._np.items()}
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
        skill: int | np.ndarray = 0,
        next_feature: np.ndarray | None = None,
        steps: int = 1,
    ) -> None:
        i = self.pos
        d = self._np
        d["obs"][i] = obs
        d["action"][i] = action
        d["reward"][i] = reward
        d["next_obs"][i] = next_obs
        d["terminated"][i] = terminated
        d["skill"][i] = skill
        d["steps"][i] = steps
        if next_feature is not None:
            d["next_feature"][i] = next_feature
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = torch.randint(self.size, (batch_size,), generator=generator)
        return self.gather(idx)

    def gather(self, idx: torch.Tensor) -> Batch:
        t = self._torch
        fields = {k: v.index_select(0, idx) for k, v in t.items()}
        fields.setdefault("next_feature", fields["next_obs"])
        if self.device.type != "cpu":
            fields = {k: v.to(self.device, non_blocking=True) for k, v in fields.items()}
        return Batch(**fields)

    def state_dict(self) -> dict:
        n = self.size
        state = {k: torch.from_numpy(v[:n].copy()) for k, v in self._np.items()}
        state["pos"] = torch.tensor(self.pos)
        state["size"] = torch.tensor(self.size)
        state["capacity"] = torch.tensor(self.capacity)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a saved buffer, also into a different capacity (a resumed run may be given
        more steps): the transitions are laid out oldest first and the newest ones kept."""
        n, pos = int(state["size"]), int(state["pos"])
        if "steps" not in state:  # written before transitions kept their robot steps: one each
            state = {**state, "steps": torch.ones(n)}
        if set(state) - {"pos", "size", "capacity"} != set(self._np):
            raise ValueError("checkpoint buffer fields do not match this run's buffer")
        wrapped = n == int(state["capacity"]) and pos != 0
        keep = min(n, self.capacity)
        for k, v in self._np.items():
            saved = state[k].numpy()
            if saved.shape[1:] != v.shape[1:]:
                raise ValueError(f"checkpoint buffer field {k} has shape {saved.shape[1:]}, "
                                 f"expected {v.shape[1:]}")
            if wrapped:
                saved = np.roll(saved, -pos, axis=0)
            v[:keep] = saved[n - keep:]
        self.size = keep
        self.pos = keep % self.capacity
