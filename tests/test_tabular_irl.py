"""Maximum-entropy IRL: recover a linear reward from soft-optimal demonstrations."""

import numpy as np
import pytest

from agents.tabular import (
    MaxEntIRLConfig,
    coordinate_features,
    discounted_feature_sums,
    feature_expectations,
    gridworld,
    linear_reward,
    maxent_irl,
    sample_trajectories,
    soft_value_iteration,
    state_visitation,
)

THETA_TRUE = np.array([1.0, 0.5, -3.0])  # favour the bottom-right, pay 3 per step


@pytest.fixture(scope="module")
def irl_setup():
    grid = gridworld(["S....", ".##..", "...#.", ".#...", "...#G"], slip=0.1, gamma=0.9)
    phi = np.hstack([coordinate_features(grid), np.ones((grid.mdp.n_states, 1))])
    expert_mdp = linear_reward(grid.mdp, phi, THETA_TRUE)
    expert = soft_value_iteration(expert_mdp, 1.0)
    demos = sample_trajectories(expert_mdp, expert.pi, 1000, 100, np.random.default_rng(0))
    result = maxent_irl(grid.mdp, phi, demos, MaxEntIRLConfig(alpha=1.0, lr=0.1, tol=1e-6))
    return grid, phi, expert_mdp, expert, demos, result


def test_demos_are_complete_episodes(irl_setup):
    _, _, _, _, demos, _ = irl_setup
    assert not demos.alive[:, -1].any()  # all reached the goal, so no truncation bias


def test_recovered_reward_matches_feature_expectations(irl_setup):
    grid, phi, expert_mdp, expert, demos, result = irl_setup
    sums = discounted_feature_sums(demos, phi, grid.mdp.gamma)
    mu_hat, se = sums.mean(axis=0), sums.std(axis=0, ddof=1) / np.sqrt(len(sums))
    # Recompute the learner's expectations from scratch: solve its reward, then visitation.
    learner_mdp = linear_reward(grid.mdp, phi, result.theta)
    learner_pi = soft_value_iteration(learner_mdp, 1.0).pi
    np.testing.assert_allclose(learner_pi, result.pi, atol=1e-7)
    mu_learner = feature_expectations(learner_mdp, learner_pi, phi)
    assert np.abs(mu_learner - mu_hat).max() < 1e-5
    assert result.feature_gap < 1e-6
    # Against the demonstrator's exact expectations only sampling error may remain.
    mu_expert = feature_expectations(expert_mdp, expert.pi, phi)
    assert np.all(np.abs(mu_learner - mu_expert) < 4 * se)


def test_recovered_policy_is_close_to_demonstrator(irl_setup):
    grid, phi, expert_mdp, expert, _, result = irl_setup
    d = state_visitation(expert_mdp, expert.pi) * expert_mdp.live
    d /= d.sum()
    kl = (expert.pi * np.log(expert.pi / result.pi)).sum(axis=1)
    assert d @ kl < 1e-3
    # The uninformed start (theta = 0) is far away, so the bound above has teeth.
    pi0 = soft_value_iteration(linear_reward(grid.mdp, phi, np.zeros(3)), 1.0).pi
    assert d @ (expert.pi * np.log(expert.pi / pi0)).sum(axis=1) > 0.05
    np.testing.assert_allclose(result.theta, THETA_TRUE, atol=0.1)
    assert result.iterations < 2000


def test_irl_dual_is_maximised(irl_setup):
    # grad L = mu_hat - mu(theta) = 0 at the result, and L is concave: nearby thetas are worse.
    grid, phi, _, _, demos, result = irl_setup
    mu_hat = discounted_feature_sums(demos, phi, grid.mdp.gamma).mean(axis=0)

    def dual(theta):
        return theta @ mu_hat - grid.mdp.init @ soft_value_iteration(
            linear_reward(grid.mdp, phi, theta), 1.0).V

    assert dual(result.theta) == pytest.approx(result.dual, abs=1e-8)
    for step in np.eye(3) * 0.05:
        assert dual(result.theta + step) < result.dual
        assert dual(result.theta - step) < result.dual


def test_irl_rejects_misshaped_features(irl_setup):
    grid, phi, _, _, demos, _ = irl_setup
    with pytest.raises(ValueError, match="features must have shape"):
        maxent_irl(grid.mdp, phi[:-1], demos)
