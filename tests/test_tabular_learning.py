"""Soft Q-learning and maximum-entropy policy gradient against the exact soft solution."""

import numpy as np
import pytest

from agents.tabular import (
    Exploration,
    FiniteMDP,
    SoftQLearningConfig,
    gridworld,
    maxent_objective,
    maxent_policy_gradient,
    maxent_policy_gradient_ascent,
    random_mdp,
    reinforce_gradient,
    soft_policy_evaluation,
    soft_q_learning,
    soft_q_target,
    soft_value_iteration,
    softmax_policy,
)


def small_grid(slip: float) -> FiniteMDP:
    return gridworld(["S..", ".#.", "..G"], slip=slip, step_reward=-0.1, goal_reward=5.0,
                     gamma=0.9).mdp


def test_soft_q_target_by_hand():
    # alpha * log(e^0 + e^(log 3)) = log 4 at alpha = 1.
    y = soft_q_target(1.0, False, 0.9, np.array([0.0, np.log(3.0)]), 1.0)
    assert y == pytest.approx(1.0 + 0.9 * np.log(4.0))
    assert soft_q_target(1.0, True, 0.9, np.array([0.0, np.log(3.0)]), 1.0) == 1.0
    # Tiny alpha: the target becomes the hard max backup without overflowing.
    assert soft_q_target(0.0, False, 1.0, np.array([2.0, 1.0]), 1e-4) == pytest.approx(2.0)


def test_soft_q_learning_deterministic_uniform_exploration():
    # Deterministic dynamics: only the step sizes separate Q-learning from soft VI.
    mdp, alpha = small_grid(slip=0.0), 0.5
    q_star = soft_value_iteration(mdp, alpha).Q
    config = SoftQLearningConfig(n_steps=30_000, horizon=20, lr_power=0.51)
    q, info = soft_q_learning(mdp, alpha, np.random.default_rng(0), config)
    assert info["train/min_visits"] > 100
    assert np.abs(q - q_star).max() < 0.01  # |Q*| ~ 5.2
    assert np.abs(q[mdp.terminal]).max() == 0.0


def test_soft_q_learning_stochastic_boltzmann_exploration():
    # Slippery grid, behaviour = Boltzmann policy of the current Q (+10% uniform). Noise and
    # the slow decay of the Q = 0 start under lr = n^-0.6 remain after 60k steps, hence the
    # looser tolerance (|Q*| ~ 5.2); the error must also shrink as samples grow.
    mdp, alpha = small_grid(slip=0.1), 0.5
    star = soft_value_iteration(mdp, alpha)
    live = ~mdp.terminal
    errors = []
    for n_steps in (15_000, 60_000):
        config = SoftQLearningConfig(n_steps=n_steps, horizon=20, exploration=Exploration.BOLTZMANN)
        q, _ = soft_q_learning(mdp, alpha, np.random.default_rng(0), config)
        errors.append(np.abs(q - star.Q)[live])
    assert errors[1].max() < 0.2 and errors[1].mean() < 0.05
    assert errors[1].mean() < 0.5 * errors[0].mean()
    pi = np.exp((q - q.max(1, keepdims=True)) / alpha)
    pi /= pi.sum(1, keepdims=True)
    assert np.abs(pi - star.pi)[live].max() < 0.08


@pytest.fixture
def pg_problem():
    mdp = gridworld(["S..", ".#.", "..G"], slip=0.1, step_reward=-0.1, gamma=0.9).mdp
    theta = np.random.default_rng(0).normal(size=mdp.R.shape)
    return mdp, theta, 0.3


def test_policy_gradient_matches_finite_differences(pg_problem):
    mdp, theta, alpha = pg_problem
    grad = maxent_policy_gradient(mdp, theta, alpha)
    fd, h = np.zeros_like(theta), 1e-6
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = h
        j_plus, j_minus = maxent_objective(mdp, theta + e, alpha), maxent_objective(mdp, theta - e, alpha)
        fd[idx] = (j_plus - j_minus) / (2 * h)
    assert np.abs(grad).max() > 0.05  # not trivially zero
    np.testing.assert_allclose(grad, fd, rtol=0, atol=1e-8)


def test_policy_gradient_vanishes_at_soft_optimum():
    mdp, alpha = random_mdp(5, 3, 0.9, np.random.default_rng(3)), 0.4
    star = soft_value_iteration(mdp, alpha)
    # pi* = softmax(Q*/alpha), so theta = Q*/alpha is a stationary point of J.
    assert np.abs(maxent_policy_gradient(mdp, star.Q / alpha, alpha)).max() < 1e-8
    assert np.abs(maxent_policy_gradient(mdp, np.zeros((5, 3)), alpha)).max() > 1e-2


@pytest.mark.parametrize("use_baseline", [False, True])
def test_reinforce_agrees_with_exact_gradient(pg_problem, use_baseline):
    mdp, theta, alpha = pg_problem
    exact = maxent_policy_gradient(mdp, theta, alpha)
    baseline = soft_policy_evaluation(mdp, softmax_policy(theta), alpha)[1] if use_baseline else None
    est = reinforce_gradient(mdp, theta, alpha, 5000, 100, np.random.default_rng(1), baseline)
    cosine = (est * exact).sum() / (np.linalg.norm(est) * np.linalg.norm(exact))
    assert cosine > 0.95
    assert np.abs(est - exact).max() < 0.25 * np.abs(exact).max()


def test_reinforce_needs_the_entropy_term(pg_problem):
    # Dropping alpha from the estimator (alpha=0 returns) must visibly disagree: the check
    # above can tell the entropy-regularised gradient from the plain one.
    mdp, theta, alpha = pg_problem
    exact = maxent_policy_gradient(mdp, theta, alpha)
    plain = reinforce_gradient(mdp, theta, 0.0, 5000, 100, np.random.default_rng(1))
    assert np.abs(plain - exact).max() > 0.5 * np.abs(exact).max()


def test_gradient_ascent_reaches_soft_optimal_policy(pg_problem):
    mdp, _, alpha = pg_problem
    star = soft_value_iteration(mdp, alpha)
    theta, info = maxent_policy_gradient_ascent(mdp, alpha, lr=3.0, n_steps=2000)
    live = ~mdp.terminal
    assert np.abs(softmax_policy(theta) - star.pi)[live].max() < 1e-3
    assert info["train/objective"] == pytest.approx(mdp.init @ star.V, abs=1e-5)
    assert info["train/objective"] <= mdp.init @ star.V + 1e-10  # J(pi) <= J(pi*)
