"""The perturbations of the robustness claim change what they say in MuJoCo's model, act on the
simulation, and leave the model as it was."""

import numpy as np
import pytest

from envs.perturb import ActionNoise, perturbed
from envs.registry import make_env


def rollout_x(env, actions) -> float:
    env.reset(seed=0)
    for a in actions:
        env.step(a)
    return float(env.unwrapped.data.qpos[0])


def test_mass_and_friction_are_scaled_in_the_model_and_restored():
    env = make_env("HalfCheetah-v5", seed=0)
    model = env.unwrapped.model
    mass, inertia, friction = model.body_mass.copy(), model.body_inertia.copy(), model.geom_friction.copy()
    with perturbed(env, mass=1.5, friction=0.5):
        np.testing.assert_allclose(model.body_mass, 1.5 * mass)
        np.testing.assert_allclose(model.body_inertia, 1.5 * inertia)
        np.testing.assert_allclose(model.geom_friction[:, 0], 0.5 * friction[:, 0])
        np.testing.assert_array_equal(model.geom_friction[:, 1:], friction[:, 1:])  # torsional, rolling
        # mj_setConst ran: the subtree masses follow the body masses.
        np.testing.assert_allclose(model.body_subtreemass[0], 1.5 * mass.sum())
    np.testing.assert_array_equal(model.body_mass, mass)
    np.testing.assert_array_equal(model.body_inertia, inertia)
    np.testing.assert_array_equal(model.geom_friction, friction)
    np.testing.assert_allclose(model.body_subtreemass[0], mass.sum())


def test_the_perturbation_changes_the_motion_and_nothing_after_it():
    env = make_env("HalfCheetah-v5", seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (100, 6)).astype(np.float32)
    plain = rollout_x(env, actions)
    with perturbed(env, mass=1.5):
        heavy = rollout_x(env, actions)
    with perturbed(env, friction=0.2):
        slippery = rollout_x(env, actions)
    assert abs(heavy - plain) > 0.05 and abs(slippery - plain) > 0.05
    assert rollout_x(env, actions) == plain  # restored exactly


def test_action_noise_is_seeded_clipped_and_zero_at_zero_std():
    env = make_env("HalfCheetah-v5", seed=0)
    a = np.full(6, 0.9, dtype=np.float32)
    noisy = ActionNoise(env, std=0.5, seed=1)
    out = np.array([noisy.action(a) for _ in range(200)])
    assert out.max() <= 1.0 and (out == 1.0).any() and abs(out.std() - 0.5) < 0.2
    np.testing.assert_array_equal(ActionNoise(env, std=0.5, seed=1).action(a), out[0])
    np.testing.assert_array_equal(ActionNoise(env, std=0.0).action(a), a)
    with pytest.raises(ValueError, match="std must be >= 0"):
        ActionNoise(env, std=-1)
    with pytest.raises(ValueError, match="not a MuJoCo env"), perturbed(make_env("Pendulum-v1"), mass=2):
        pass
