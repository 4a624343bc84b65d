"""Perturbed dynamics for robustness checks: a policy trained on one robot, evaluated on a
heavier or lighter one, on more or less slippery ground, or with noise on its actions, without
retraining."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import gymnasium as gym
import numpy as np


@contextlib.contextmanager
def perturbed(env: gym.Env, mass: float = 1.0, friction: float = 1.0) -> Iterator[gym.Env]:
    """`env`'s MuJoCo model with every body's mass scaled by `mass` and every geom's sliding
    friction by `friction`, restored on exit. Inertias scale with the masses (the same shapes,
    denser), and MuJoCo's derived constants are recomputed both ways."""
    import mujoco

    if mass <= 0 or friction < 0:
        raise ValueError(f"mass must be > 0 and friction >= 0 (got {mass}, {friction})")
    base = env.unwrapped
    if not hasattr(base, "model"):
        raise ValueError(f"{env.spec.id if env.spec else env} is not a MuJoCo env: nothing to perturb")
    model, data = base.model, base.data
    saved = model.body_mass.copy(), model.body_inertia.copy(), model.geom_friction.copy()
    try:
        model.body_mass[:] *= mass
        model.body_inertia[:] *= mass
        model.geom_friction[:, 0] *= friction
        mujoco.mj_setConst(model, data)
        yield env
    finally:
        model.body_mass[:], model.body_inertia[:], model.geom_friction[:] = saved
        mujoco.mj_setConst(model, data)


class ActionNoise(gym.ActionWrapper):
    """Gaussian noise of standard deviation `std` on every action, clipped to the action bounds:
    the policy's commands reach the motors imprecisely."""

    def __init__(self, env: gym.Env, std: float, seed: int | None = None):
        super().__init__(env)
        if std < 0:
            raise ValueError(f"std must be >= 0 (got {std})")
        self.std = std
        self.rng = np.random.default_rng(seed)

    def action(self, action):
        noisy = action + self.std * self.rng.standard_normal(np.shape(action))
        return np.clip(noisy, self.action_space.low, self.action_space.high).astype(np.float32)
