"""METRA: Metric-Aware Abstraction (Park et al. 2024, arXiv 2310.08887), with discrete skills.

A representation phi(s) in R^K is trained to maximise (phi(s') - phi(s))^T z over the replay
buffer's transitions subject to ||phi(s') - phi(s)|| <= 1 for consecutive states (Eq. 8), by
dual gradient descent on a Lagrange multiplier lambda: phi must spread skills apart in a space
where one step moves at most one unit, so a skill is paid for how far it travels in time, not
for any state difference a classifier could pick up. The policy's reward is the same inner
product, relabelled with the current phi on every sampled batch (the reward telescopes: a skill
is paid for the displacement of phi along z over its whole trajectory).

Skills are K one-hots for the policy; in the reward, z is the zero-centred one-hot
(e_k - 1/K) K / (K - 1), as the authors' code does for discrete skills, so that moving along one
axis of phi is paid and moving along all of them alike is not. Continuous skills (`continuous`)
are unit vectors z in R^d, uniform on the sphere; `SkillLibrary.reach` then steers toward a goal
state g with z = (phi(g) - phi(s)) / ||phi(g) - phi(s)|| (zero-shot goal reaching).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from agents.buffer import Batch
from agents.config import ConfigError, check, layer_sizes, positive
from agents.nets import mlp
from skills.diayn import append_skill, check_shared_fields


@dataclass(frozen=True)
class DistanceSkillsConfig:
    """What METRA and LSD share: K discrete skills, and phi over the policy's observation."""

    n_skills: int = field(default=8, metadata={"flag": "skills"})
    """K, the discrete skills; with `continuous`, d, the dimension of z; either way phi's"""
    continuous: bool = False
    """skills z are unit vectors in R^d (a standard normal, normalised), as METRA's continuous
    skills, which `SkillLibrary.reach` steers toward goals; off: K one-hots"""
    feature: str | None = None
    """a feature of the state appended to the observation where it leaves it out ("xy" for the
    Ant's torso position, which v5 observations drop); phi reads the policy's observation"""
    hidden: tuple[int, ...] = field(default=(256, 256), metadata={"flag": "disc-hidden"})
    """hidden layer sizes of phi"""
    lr: float = field(default=1e-4, metadata={"flag": "disc-lr"})
    """Adam learning rate of phi"""
    reward_scale: float = 1.0
    """multiplies the reward before SAC sees it"""
    skill_steps: int = 0
    """robot steps before the skill is redrawn within an episode; 0: one skill per episode"""
    alive_bonus: float = field(default=0.0, metadata={"cli": False})
    """added to every step's reward after the scale, for robots whose episode ends when they fall
    (as DIAYN's): phi's one-step bound is set by the largest steps in the buffer, and a fall is
    one, so a dive to the floor pays more per step than a hop unless staying up pays too"""
    phi_on_feature: bool = field(default=False, metadata={"cli": False})
    """phi reads only `feature`, appended to the observation (a prior on where skills differ, as
    DIAYN's x-y prior): off, phi reads the whole observation, and on Ant a 2-D phi may spend an
    axis on the body's posture, so that equally spaced directions of z do not walk equally
    spaced directions on the ground"""
    standardize: bool = field(default=False, metadata={"cli": False})
    """phi reads observations standardised per dimension by the mean and standard deviation of
    its first training batch (the random warm-up's transitions), then frozen, as the authors'
    code normalises Ant's observations with preset statistics: unscaled, joint velocities (std
    ~4.5) swamp the torso's position (std ~0.6) in phi's input"""

    def __post_init__(self):
        if self.continuous:
            check(self, "n_skills", self.n_skills >= 1, "is z's dimension with continuous skills: "
                  "at least 1")
        else:
            check(self, "n_skills", self.n_skills >= 2, "must be at least 2: discrete skills are "
                  "zero-centred one-hots, and one skill has no direction")
        layer_sizes(self, "hidden", min_layers=1)
        positive(self, "lr", "reward_scale")
        check_shared_fields(self)
        check(self, "phi_on_feature", not self.phi_on_feature or bool(self.feature),
              "needs a feature for phi to read (skills.feature, e.g. \"xy\")")


@dataclass(frozen=True)
class METRAConfig(DistanceSkillsConfig):
    method: ClassVar[str] = "metra"

    init_lambda: float = field(default=30.0, metadata={"cli": False})
    """the Lagrange multiplier's initial value"""
    lambda_lr: float = field(default=1e-4, metadata={"cli": False})
    """Adam learning rate of log lambda"""
    dual_slack: float = field(default=1e-3, metadata={"cli": False})
    """how far inside the constraint a pair still counts for lambda: beyond it, slack pairs do not
    shrink lambda further"""

    def __post_init__(self):
        super().__post_init__()
        positive(self, "init_lambda", "lambda_lr")
        check(self, "dual_slack", self.dual_slack >= 0, "must be >= 0")


# ---------------------------------------------------------------- the math, as pure functions


def centred_skills(skill: torch.Tensor, n_skills: int) -> torch.Tensor:
    """z = (e_k - 1/K) K / (K - 1): a zero-mean direction in R^K per discrete skill k."""
    one_hot = F.one_hot(skill, n_skills).float()
    return (one_hot - 1.0 / n_skills) * n_skills / (n_skills - 1)


def unit_vector(v: np.ndarray) -> np.ndarray:
    """v / ||v||, float32: a continuous skill (a standard normal draw normalised is uniform on
    the sphere)."""
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def metra_reward(phi_s: torch.Tensor, phi_next: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """r = (phi(s') - phi(s))^T z (METRA Eq. 9)."""
    return ((phi_next - phi_s) * z).sum(-1)


def constraint_penalty(phi_s: torch.Tensor, phi_next: torch.Tensor, slack: float) -> torch.Tensor:
    """min(1 - ||phi(s') - phi(s)||^2, slack): negative where a pair breaks the constraint; capped
    at `slack` so that pairs well inside it do not pull lambda down without end."""
    return torch.clamp(1.0 - (phi_next - phi_s).pow(2).sum(-1), max=slack)


def representation_loss(reward: torch.Tensor, penalty: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """-E[r + lambda * penalty]: phi ascends the Lagrangian with lambda held fixed."""
    return -(reward + lam.detach() * penalty).mean()


def dual_loss(log_lambda: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """log lambda * E[penalty]: descending it raises lambda while the constraint is broken on
    average (penalty < 0) and lowers it while it is slack."""
    return log_lambda * penalty.detach().mean()


# ---------------------------------------------------------------- the plug-in


class Standardize(torch.nn.Module):
    """x -> (x - mean) / std with statistics fitted once (`fit`) and kept in the state dict."""

    # A floor on std: a dimension that hardly varies in the warm-up (a resting joint) would
    # otherwise be magnified without bound once the policy moves it.
    MIN_STD = 1e-2

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp(min=self.MIN_STD))
        self.fitted.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class LastColumns(torch.nn.Module):
    """x -> its last n entries: the feature that `FeatureInObservation` appends."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., -self.n:]


class DistanceSkills:
    """phi and the relabeller; a `SkillPlugin` of the one loop. It has no classifier q(z|s)
    (`predict` is None): its evaluation is coverage and travel, not accuracy. How phi is kept
    from growing without bound is the subclass's: METRA's dual constraint, LSD's spectral norm."""

    predict = None

    def __init__(self, obs_dim: int, cfg: DistanceSkillsConfig, device: str = "cpu", feature_dim: int = 0):
        """`feature_dim`: with `phi_on_feature`, the number of the observation's last entries
        that hold the feature."""
        self.cfg = cfg
        self.n_skills = cfg.n_skills
        self.skill_dim = cfg.n_skills  # the one-hot, or z, appended to the observation
        self.continuous_dim = cfg.n_skills if cfg.continuous else 0
        self.skill_steps = cfg.skill_steps
        self.feature_fn = None  # phi reads the observation
        self.device = torch.device(device)
        if cfg.phi_on_feature and feature_dim < 1:
            raise ValueError("phi_on_feature needs feature_dim >= 1: how many of the observation's last "
                             "entries hold the feature (build() reads it from the env)")
        # Modules without parameters go first, so that a phi of the whole observation keeps the
        # state-dict keys of runs made before `phi_on_feature` existed.
        inputs = [LastColumns(feature_dim)] if cfg.phi_on_feature else []
        in_dim = feature_dim if cfg.phi_on_feature else obs_dim
        self.standardizer = Standardize(in_dim) if cfg.standardize else None
        if self.standardizer is not None:
            inputs.append(self.standardizer)
        self.phi = torch.nn.Sequential(*inputs, *self.representation(in_dim, cfg)).to(self.device)
        self.opt = torch.optim.Adam(self.phi.parameters(), lr=cfg.lr)

    @staticmethod
    def representation(obs_dim: int, cfg: DistanceSkillsConfig) -> torch.nn.Module:
        return mlp(obs_dim, cfg.hidden, cfg.n_skills)

    @classmethod
    def build(cls, env: gym.Env, cfg: DistanceSkillsConfig, device: str = "cpu"):
        """For `env` as the policy sees it (`policy_env`): phi over its observation, or over the
        feature the observation ends with (`phi_on_feature`)."""
        from envs.registry import FeatureInObservation

        feature_dim = 0
        if cfg.phi_on_feature:
            if not isinstance(env, FeatureInObservation):
                raise ConfigError(f"skills.phi_on_feature needs a feature the observation leaves out, "
                                  f"for phi to read where it is appended; {env.spec.id if env.spec else env} "
                                  f"observes {cfg.feature!r} already (use \"xy\" on Ant-v5, or "
                                  f"phi_on_feature false)")
            feature_dim = int(np.size(env.feature_fn()))
        return cls(env.observation_space.shape[0], cfg, device, feature_dim)

    @staticmethod
    def policy_env(cfg: DistanceSkillsConfig, env: gym.Env) -> gym.Env:
        from envs.registry import observe_feature

        return observe_feature(env, cfg.feature) if cfg.feature else env

    def feature_for(self, env: gym.Env) -> None:
        return None

    def sample_skill(self, rng: np.random.Generator) -> int | np.ndarray:
        if self.continuous_dim:
            return unit_vector(rng.standard_normal(self.continuous_dim))
        return int(rng.integers(self.n_skills))

    def condition(self, obs: np.ndarray, skill: int | np.ndarray) -> np.ndarray:
        if self.continuous_dim:
            return np.concatenate([obs, np.asarray(skill, np.float32)])
        one_hot = np.zeros(self.n_skills, np.float32)
        one_hot[skill] = 1.0
        return np.concatenate([obs, one_hot])

    def shown_skills(self) -> list:
        """The skills that evaluation, videos and plots run: every one of K; for continuous
        skills, 8 directions 45 degrees apart in z's first two entries (+-1 for a 1-d z)."""
        if not self.continuous_dim:
            return list(range(self.n_skills))
        if self.continuous_dim == 1:
            return [np.array([1.0], np.float32), np.array([-1.0], np.float32)]
        out = []
        for k in range(8):
            z = np.zeros(self.continuous_dim, np.float32)
            z[:2] = np.cos(k * np.pi / 4), np.sin(k * np.pi / 4)
            out.append(z)
        return out

    def _directions(self, skill: torch.Tensor) -> torch.Tensor:
        """z of the reward: the skill vector itself, or the zero-centred one-hot of skill k."""
        return skill if self.continuous_dim else centred_skills(skill, self.n_skills)

    def _relabelled(self, batch: Batch, reward: torch.Tensor) -> Batch:
        if self.continuous_dim:
            obs = torch.cat([batch.obs, batch.skill], dim=-1)
            next_obs = torch.cat([batch.next_obs, batch.skill], dim=-1)
        else:
            obs = append_skill(batch.obs, batch.skill, self.n_skills)
            next_obs = append_skill(batch.next_obs, batch.skill, self.n_skills)
        reward = self.cfg.reward_scale * reward + self.cfg.alive_bonus
        return batch._replace(obs=obs, next_obs=next_obs, reward=reward)

    @torch.no_grad()
    def rewards(self, batch: Batch) -> torch.Tensor:
        """(phi(s') - phi(s))^T z of each transition, with the current phi."""
        return metra_reward(self._phi(batch.obs), self._phi(batch.next_obs), self._directions(batch.skill))

    def _phi(self, x: torch.Tensor) -> torch.Tensor:
        """phi as it stands, outside its own training step."""
        return self.phi(x)

    def relabel(self, batch: Batch) -> Batch:
        return self._relabelled(batch, self.rewards(batch))

    def representation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def update(self, batch: Batch) -> tuple[Batch, dict[str, float]]:
        """A step of phi, then the batch relabelled with the phi after it, as the authors' code
        does."""
        if self.standardizer is not None and not self.standardizer.fitted:
            x = torch.cat([batch.obs, batch.next_obs])
            self.standardizer.fit(x[:, -self.standardizer.mean.shape[0]:])
        stats = self.representation_step(batch)
        relabelled = self.relabel(batch)
        stats["skill/intrinsic_reward"] = relabelled.reward.mean()
        return relabelled, dict(zip(stats, torch.stack(list(stats.values())).tolist()))

    @staticmethod
    def _steps(phi_s: torch.Tensor, phi_next: torch.Tensor) -> dict[str, torch.Tensor]:
        step = (phi_next - phi_s).detach().norm(dim=-1)
        return {"skill/phi_step": step.mean(), "skill/phi_step_max": step.max()}

    @torch.no_grad()
    def embed(self, obs: np.ndarray) -> np.ndarray:
        """phi(s) of each row of `obs` (the policy's observations)."""
        return self._phi(torch.as_tensor(obs, dtype=torch.float32, device=self.device)).cpu().numpy()

    def state_dict(self) -> dict:
        return {"phi": self.phi.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.phi.load_state_dict(state["phi"])
        self.opt.load_state_dict(state["opt"])


class METRA(DistanceSkills):
    """phi kept 1-Lipschitz in time by a Lagrange multiplier lambda, trained by dual descent."""

    Config = METRAConfig

    def __init__(self, obs_dim: int, cfg: METRAConfig, device: str = "cpu", feature_dim: int = 0):
        super().__init__(obs_dim, cfg, device, feature_dim)
        self.log_lambda = torch.tensor(math.log(cfg.init_lambda), device=self.device, requires_grad=True)
        self.lambda_opt = torch.optim.Adam([self.log_lambda], lr=cfg.lambda_lr)

    def representation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One step of phi on the Lagrangian, then one of lambda (METRA's dual descent)."""
        phi_s, phi_next = self.phi(batch.obs), self.phi(batch.next_obs)
        reward = metra_reward(phi_s, phi_next, self._directions(batch.skill))
        penalty = constraint_penalty(phi_s, phi_next, self.cfg.dual_slack)
        loss = representation_loss(reward, penalty, self.log_lambda.exp())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        loss_lambda = dual_loss(self.log_lambda, penalty)
        self.lambda_opt.zero_grad(set_to_none=True)
        loss_lambda.backward()
        self.lambda_opt.step()
        return {"skill/phi_loss": loss.detach(), "skill/lambda": self.log_lambda.detach().exp(),
                **self._steps(phi_s, phi_next)}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "log_lambda": self.log_lambda.detach().clone(),
                "lambda_opt": self.lambda_opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        with torch.no_grad():
            self.log_lambda.copy_(state["log_lambda"])
        self.lambda_opt.load_state_dict(state["lambda_opt"])
