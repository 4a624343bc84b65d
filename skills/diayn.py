"""DIAYN: Diversity is All You Need (Eysenbach et al. 2018, arXiv 1802.06070).

A skill z ~ p(z) (uniform over K, fixed: Sec. 3.2 shows a learned prior collapses) is drawn once
per episode (or every `skill_steps` steps, for skills a hierarchy will start from any state). A
discriminator q(z | f(s)) learns which skill visited a state; the policy is paid the pseudo-reward
log q(z | f(s')) - log p(z) (Algorithm 1) on the state its action led to. SAC stays unaware of all
this: `DIAYN` is a plug-in of the one loop that appends the skill's one-hot to the observations
and relabels the reward of every sampled batch with the current discriminator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from agents.buffer import Batch
from agents.config import ConfigError, check, layer_sizes, positive
from agents.memory import check_fits
from agents.nets import mlp


@dataclass(frozen=True)
class DIAYNConfig:
    method: ClassVar[str] = "diayn"

    n_skills: int = field(default=8, metadata={"flag": "skills"})
    """K, the number of skills of the uniform prior p(z)"""
    feature: str | None = None
    """what the discriminator sees: None for the full observation, or a feature the env exposes
    ("xy" for the torso's x-y, the paper's DIAYN+prior; "x" for planar robots; "vxy", "vx" for
    the torso's velocity, "heading" for its direction, "com_vxy", "com_vx" for the centre of
    mass's velocity; several joined by commas, "x,vx", are read side by side)"""
    hidden: tuple[int, ...] = field(default=(128, 128), metadata={"flag": "disc-hidden"})
    """hidden layer sizes of the discriminator: half as wide as SAC's networks, since it only
    classifies a state's feature into K skills, and a wider one costs a large share of each
    update"""
    lr: float = field(default=3e-4, metadata={"flag": "disc-lr"})
    """Adam learning rate of the discriminator"""
    reward_scale: float = 1.0
    """multiplies the pseudo-reward before SAC sees it"""
    observe_feature: bool = field(default=True, metadata={"cli": False})
    """append the feature to the policy's observation where the observation leaves it out (v5
    robots drop the torso's position): the reward depends on it, so actor and critics must see
    it. False keeps the policy blind to it, as runs of schema version 1 were"""
    alive_bonus: float = field(default=0.0, metadata={"cli": False})
    """added to the pseudo-reward of every step, for robots whose episode ends when they fall:
    log q(z|s') - log p(z) is below zero wherever q(z|s') < 1/K, as it is for every skill early
    in training, and there ending the episode pays. Gymnasium's Hopper and Walker2d pay 1 a
    step for staying healthy; 0, the paper's reward, where episodes do not end on a fall"""
    skill_steps: int = 0
    """robot steps before the skill is redrawn within an episode; 0 draws one skill per episode,
    as the paper does. A hierarchy starts each skill wherever the last one left the robot, and a
    skill only ever started from the reset state may not know what to do there; redrawing every
    k steps trains each skill from the others' states"""

    def __post_init__(self):
        check(self, "n_skills", self.n_skills >= 2, "must be at least 2: one skill has nothing to "
              "be told apart from")
        layer_sizes(self, "hidden", min_layers=0)
        positive(self, "lr", "reward_scale")
        check_shared_fields(self)


def check_shared_fields(cfg) -> None:
    """The checks of the fields DIAYN, METRA and LSD share: `alive_bonus` and `skill_steps`."""
    check(cfg, "alive_bonus", cfg.alive_bonus >= 0, "must be >= 0: a cost per step would make ending "
          "the episode pay")
    check(cfg, "skill_steps", cfg.skill_steps >= 0, "must be 0 (one skill per episode) or positive")


# ---------------------------------------------------------------- the math, as pure functions


def log_p_z(n_skills: int) -> float:
    """log p(z) of the uniform prior."""
    return -math.log(n_skills)


def diayn_reward(logits: torch.Tensor, skill: torch.Tensor, n_skills: int) -> torch.Tensor:
    """r_z(s') = log q(z | s') - log p(z) (DIAYN eq. 3 / Algorithm 1). 0 for a discriminator that
    cannot tell skills apart, log K for a sure and right one, very negative for a sure and wrong one."""
    return reward_from_log_q(log_q(logits, skill), n_skills)


def reward_from_log_q(log_q_z: torch.Tensor, n_skills: int) -> torch.Tensor:
    """log q(z | s') - log p(z), from log q(z | s') already at hand."""
    return log_q_z - log_p_z(n_skills)


def log_q(logits: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
    """log q(z | s) of the skill that was run."""
    return pick(F.log_softmax(logits, dim=-1), skill)


def pick(log_probs: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
    """Row i's entry at column skill[i]: log q(z | s) from all of log q(. | s)."""
    return log_probs.gather(-1, skill.unsqueeze(-1)).squeeze(-1)


def entropy_of_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """Mean entropy of q(. | s) over rows, from log q(. | s): high while the discriminator is unsure."""
    return -(log_probs.exp() * log_probs).sum(-1).mean()


def append_skill(obs: torch.Tensor, skill: torch.Tensor, n_skills: int) -> torch.Tensor:
    """[obs, one_hot(z)]: the skill-conditioned policy's input."""
    return torch.cat([obs, F.one_hot(skill, n_skills).to(obs.dtype)], dim=-1)


# ---------------------------------------------------------------- the plug-in


class DIAYN:
    """Skill prior, discriminator and relabeller; a `SkillPlugin` of the one loop.

    Its contract with the rest: `build(env, cfg)` turns the feature's name into a function of
    the env's state (`features(env)`), the policy sees the observation with K entries appended
    (`skill_dim`), and `predict` is q(. | f(s)) for metrics, imitation and the hierarchy's tools.
    """

    Config = DIAYNConfig

    def __init__(self, feature_dim: int, cfg: DIAYNConfig, device: str = "cpu",
                 feature_fn: Callable[[], np.ndarray] | None = None):
        self.cfg = cfg
        self.n_skills = cfg.n_skills
        self.skill_dim = cfg.n_skills  # the one-hot appended to the observation
        self.skill_steps = cfg.skill_steps
        self.feature_fn = feature_fn
        self.feature_dim = feature_dim
        self.device = torch.device(device)
        self.discriminator = mlp(feature_dim, cfg.hidden, cfg.n_skills).to(self.device)
        # Fused Adam, as SAC's: foreach Adam was a quarter of the discriminator's step here.
        self.opt = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr, fused=True)

    @classmethod
    def build(cls, env: gym.Env, cfg: DIAYNConfig, device: str = "cpu") -> DIAYN:
        """DIAYN for `env`: the discriminator sized to the feature it sees of env's states."""
        feature_fn = cls.features(cfg, env)
        feature_dim = env.observation_space.shape[0] if feature_fn is None else feature_fn().size
        last = cfg.hidden[-1] if cfg.hidden else feature_dim
        # The discriminator's last layer and its Adam moments, float32.
        check_fits(12 * last * cfg.n_skills, f"a discriminator over {cfg.n_skills} skills",
                   "use fewer --skills")
        return cls(feature_dim, cfg, device, feature_fn)

    @staticmethod
    def features(cfg: DIAYNConfig, env: gym.Env) -> Callable[[], np.ndarray] | None:
        """What the discriminator sees of `env`'s current state; None: the observation."""
        from envs.registry import UnknownFeatureError, state_feature

        try:
            return state_feature(env, cfg.feature)
        except UnknownFeatureError as e:
            raise ConfigError(str(e)) from None

    @staticmethod
    def policy_env(cfg: DIAYNConfig, env: gym.Env) -> gym.Env:
        """`env` as the skill policy sees it: with the feature appended to the observation where
        the observation leaves it out (and cfg.observe_feature)."""
        from envs.registry import observe_feature

        return observe_feature(env, cfg.feature) if cfg.observe_feature else env

    def feature_for(self, env: gym.Env) -> Callable[[], np.ndarray] | None:
        """The discriminator's feature of another env of the same kind (evaluation, the library)."""
        return self.features(self.cfg, env)

    def sample_skill(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.n_skills))

    def condition(self, obs: np.ndarray, skill: int) -> np.ndarray:
        one_hot = np.zeros(self.n_skills, np.float32)
        one_hot[skill] = 1.0
        return np.concatenate([obs, one_hot])

    def _relabelled(self, batch: Batch, log_q_z: torch.Tensor) -> Batch:
        K = self.n_skills
        reward = self.cfg.reward_scale * reward_from_log_q(log_q_z, K) + self.cfg.alive_bonus
        return batch._replace(obs=append_skill(batch.obs, batch.skill, K),
                              next_obs=append_skill(batch.next_obs, batch.skill, K),
                              reward=reward)

    @torch.no_grad()
    def relabel(self, batch: Batch) -> Batch:
        """The batch as SAC sees it: skill appended to s and s', reward from q(z | f(s'))."""
        return self._relabelled(batch, log_q(self.discriminator(batch.next_feature), batch.skill))

    def update(self, batch: Batch) -> tuple[Batch, dict[str, float]]:
        """One discriminator step on the batch's next states, and the batch relabelled with the
        logits of that same forward pass (the discriminator before this step, as in Algorithm 1,
        which rewards the policy before updating q); one forward serves both."""
        # One log-softmax serves the loss (cross-entropy = -mean log q(z|s')), the reward and
        # the metrics, where there were four: small ops have a fixed cost each on a CPU.
        log_probs = F.log_softmax(self.discriminator(batch.next_feature), dim=-1)
        log_q_z = pick(log_probs, batch.skill)
        loss = -log_q_z.mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        log_probs, log_q_z = log_probs.detach(), log_q_z.detach()
        relabelled = self._relabelled(batch, log_q_z)
        accuracy = (log_probs.argmax(-1) == batch.skill).float().mean()
        stats = torch.stack([loss.detach(), accuracy, relabelled.reward.mean(), log_q_z.mean(),
                             entropy_of_log_probs(log_probs)]).tolist()
        return relabelled, dict(zip(_METRIC_KEYS, stats))

    @torch.no_grad()
    def log_q_z(self, features: np.ndarray, skill: int) -> np.ndarray:
        """log q(z | f(s)) of `skill` for each row of `features`."""
        logits = self.discriminator(torch.as_tensor(features, dtype=torch.float32, device=self.device))
        z = torch.full((logits.shape[0],), skill, dtype=torch.long, device=self.device)
        return log_q(logits, z).cpu().numpy()

    @torch.no_grad()
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Log-probabilities log q(. | f(s)), one row per state."""
        logits = self.discriminator(torch.as_tensor(features, dtype=torch.float32, device=self.device))
        return F.log_softmax(logits, dim=-1).cpu().numpy()

    def state_dict(self) -> dict:
        return {"discriminator": self.discriminator.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt.load_state_dict(state["opt"])


_METRIC_KEYS = ("skill/disc_loss", "skill/disc_accuracy", "skill/intrinsic_reward", "skill/log_q_z",
                "skill/disc_entropy")
