"""LSD: Lipschitz-constrained Skill Discovery (Park et al. 2022, arXiv 2202.00914), discrete skills.

The same reward as METRA, (phi(s') - phi(s))^T z, but phi is kept 1-Lipschitz in the state
(||phi(x) - phi(y)|| <= ||x - y||) by spectral normalisation of every layer, instead of METRA's
constraint in time: skills are paid for distance travelled in the observation's own metric, so
what the observation holds (velocities, joint angles) sets which skills pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch.nn.utils.parametrizations import spectral_norm

from agents.buffer import Batch
from skills.metra import DistanceSkills, DistanceSkillsConfig, metra_reward


@dataclass(frozen=True)
class LSDConfig(DistanceSkillsConfig):
    method: ClassVar[str] = "lsd"


class LSD(DistanceSkills):
    Config = LSDConfig

    @staticmethod
    def representation(obs_dim: int, cfg: DistanceSkillsConfig) -> torch.nn.Module:
        """phi with each linear layer divided by its largest singular value (power iteration,
        one step per forward in training); ReLU is 1-Lipschitz, so phi is too."""
        phi = DistanceSkills.representation(obs_dim, cfg)
        for i, layer in enumerate(phi):
            if isinstance(layer, torch.nn.Linear):
                phi[i] = spectral_norm(layer)
        return phi

    def _phi(self, x: torch.Tensor) -> torch.Tensor:
        """phi in eval mode, where the spectral norm uses its current estimate instead of taking
        a power-iteration step: only phi's training steps refine it, and a reward or embedding
        read twice is the same."""
        self.phi.eval()
        try:
            return self.phi(x)
        finally:
            self.phi.train()

    def representation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One step of phi on E[(phi(s') - phi(s))^T z]: the Lipschitz bound is in phi itself."""
        phi_s, phi_next = self.phi(batch.obs), self.phi(batch.next_obs)
        loss = -metra_reward(phi_s, phi_next, self._directions(batch.skill)).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"skill/phi_loss": loss.detach(), **self._steps(phi_s, phi_next)}
