"""METRA and LSD (discrete skills): the reward and constraint by hand, lambda's direction, LSD's
Lipschitz bound, relabelling with the current phi, and skills that travel on PointMass."""

import numpy as np
import pytest
import torch

from agents.buffer import Batch
from agents.config import ConfigError
from skills.lsd import LSD, LSDConfig
from skills.metra import METRA, METRAConfig, centred_skills, constraint_penalty, dual_loss, metra_reward


def batch_of(obs, next_obs, skill) -> Batch:
    obs, next_obs = torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(next_obs, dtype=torch.float32)
    n = len(obs)
    return Batch(obs, torch.zeros(n, 1), torch.zeros(n), next_obs, torch.zeros(n),
                 torch.as_tensor(skill), next_obs)


def test_the_reward_and_the_constraint_by_hand():
    z = centred_skills(torch.tensor([1, 3]), 4)
    np.testing.assert_allclose(z, [[-1 / 3, 1, -1 / 3, -1 / 3], [-1 / 3, -1 / 3, -1 / 3, 1]], atol=1e-6)
    assert torch.allclose(z.sum(-1), torch.zeros(2), atol=1e-6)  # moving along all axes alike pays 0
    phi_s = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    phi_next = torch.tensor([[0.5, 2.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    # (0.5, 2, 0, 0) . (-1/3, 1, -1/3, -1/3) = -1/6 + 2 = 11/6; a uniform step pays 0.
    np.testing.assert_allclose(metra_reward(phi_s, phi_next, z), [11 / 6, 0.0], atol=1e-6)
    steps = torch.tensor([[0.6, 0.8], [1.0, 1.0], [0.1, 0.0]])
    penalty = constraint_penalty(torch.zeros(3, 2), steps, slack=1e-3)
    np.testing.assert_allclose(penalty, [0.0, -1.0, 1e-3], atol=1e-6)  # on it, outside, well inside


def test_lambda_grows_while_the_constraint_is_broken_and_shrinks_while_it_is_slack():
    torch.manual_seed(0)
    obs = torch.randn(64, 3)
    b = batch_of(obs, obs + 0.1, torch.zeros(64, dtype=torch.long))
    for scale, grows in [(100.0, True), (0.0, False)]:
        m = METRA(3, METRAConfig(n_skills=2, hidden=(16,), lambda_lr=1e-2))
        with torch.no_grad():
            m.phi[-1].weight.mul_(scale)  # steps in phi far beyond 1, or none at all
        before = m.log_lambda.item()
        stats = m.representation_step(b)
        assert (m.log_lambda.item() > before) is grows, (scale, stats)
    log_lam = torch.tensor(0.0, requires_grad=True)
    dual_loss(log_lam, torch.tensor([-1.0, 0.5])).backward()
    assert log_lam.grad.item() == pytest.approx(-0.25)  # a descent step raises log lambda


def test_metra_keeps_consecutive_states_within_one_unit_of_phi():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    m = METRA(1, METRAConfig(n_skills=2, hidden=(32, 32), lr=1e-3, lambda_lr=1e-2))
    # A chain of states on [0, 4] where each step moves 0.1, its transitions drawn afresh each
    # batch. (Training on a fixed set of pairs constrains phi only across those pairs: pairs
    # straddling two of them came out 1.02-1.09 apart on 3 of 4 seeds.)
    for _ in range(2000):
        s = torch.rand(64, 1, generator=g) * 3.9
        stats = m.representation_step(batch_of(s, s + 0.1, torch.zeros(64, dtype=torch.long)))
    held = torch.linspace(0.05, 3.95, 40)[:, None]  # consecutive pairs no batch held exactly
    steps = np.linalg.norm(m.embed(held[1:].numpy()) - m.embed(held[:-1].numpy()), axis=-1)
    assert steps.max() <= 1 + 1e-2, steps.max()
    assert steps.mean() > 0.8, stats  # and the skill is paid: phi stretches to the bound


def test_lsd_layers_have_spectral_norm_at_most_one():
    torch.manual_seed(0)
    lsd = LSD(5, LSDConfig(n_skills=3, hidden=(32, 32), lr=1e-2))
    b = batch_of(torch.randn(128, 5), torch.randn(128, 5), torch.randint(3, (128,)))
    for _ in range(100):
        lsd.representation_step(b)
    lsd.phi.eval()
    linears = [m for m in lsd.phi if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3
    for layer in linears:
        assert torch.linalg.svdvals(layer.weight.detach()).max() <= 1 + 1e-3
    # Hence phi is 1-Lipschitz: no pair of states moves further in phi than in the state.
    x, y = torch.randn(500, 5), torch.randn(500, 5)
    assert ((lsd.embed(x.numpy()) - lsd.embed(y.numpy())) ** 2).sum(-1).max() <= ((x - y) ** 2).sum(-1).max()


@pytest.mark.parametrize("method", [METRA(4, METRAConfig(n_skills=3, hidden=(16,))),
                                    LSD(4, LSDConfig(n_skills=3, hidden=(16,)))])
def test_the_reward_is_relabelled_with_the_current_phi(method):
    torch.manual_seed(0)
    b = batch_of(torch.randn(32, 4), torch.randn(32, 4), torch.randint(3, (32,)))
    first = method.relabel(b)
    assert first.obs.shape == (32, 4 + 3)
    assert torch.equal(first.obs[:, 4:], torch.nn.functional.one_hot(b.skill, 3).float())
    by_hand = metra_reward(torch.as_tensor(method.embed(b.obs.numpy())),
                           torch.as_tensor(method.embed(b.next_obs.numpy())), centred_skills(b.skill, 3))
    torch.testing.assert_close(first.reward, by_hand)
    method.representation_step(b)  # phi changes: so does the same batch's reward
    assert not torch.allclose(method.relabel(b).reward, first.reward)


@pytest.mark.parametrize("method", [METRA, LSD])
def test_alive_bonus_is_added_to_every_step_after_the_scale(method):
    torch.manual_seed(0)
    cfg = dict(n_skills=3, hidden=(16,), reward_scale=2.0)
    plain = method(4, method.Config(**cfg))
    alive = method(4, method.Config(**cfg, alive_bonus=1.0))
    alive.phi.load_state_dict(plain.phi.state_dict())
    b = batch_of(torch.randn(32, 4), torch.randn(32, 4), torch.randint(3, (32,)))
    by_hand = 2.0 * plain.rewards(b) + 1.0
    torch.testing.assert_close(alive.relabel(b).reward, by_hand)
    with pytest.raises(ConfigError, match="alive_bonus must be >= 0"):
        method.Config(n_skills=3, alive_bonus=-0.5)


def test_a_method_without_skills_to_tell_apart_is_refused():
    with pytest.raises(ConfigError, match="n_skills must be at least 2"):
        METRAConfig(n_skills=1)
    with pytest.raises(ConfigError, match="init_lambda"):
        METRAConfig(init_lambda=0)


def test_metra_skills_travel_apart_on_pointmass(tmp_path):
    from run import main
    from skills.library import SkillLibrary

    run = tmp_path / "metra"
    assert main(["pretrain", "--method", "metra", "--env", "PointMass-v0", "--skills", "4",
                 "--total-steps", "3000", "--learning-starts", "1000", "--eval-every", "3000",
                 "--seed", "0", "--threads", "1", "--run-dir", str(run), "--no-progress",
                 "--no-visualize"]) == 0
    lib = SkillLibrary.load(run)
    ends = np.array([lib.rollout(z, seed=0).positions[-1] for z in range(4)])
    assert np.linalg.norm(ends, axis=1).min() > 2.5, ends  # a random policy ends ~1 m out
    gaps = np.linalg.norm(ends[:, None] - ends[None], axis=-1)[np.triu_indices(4, 1)]
    assert gaps.min() > 2.0, ends  # four places, not one
    with pytest.raises(ValueError, match="no classifier"):
        lib.infer_skill(np.zeros((3, 4)))


def test_continuous_skills_are_unit_vectors_stored_and_rewarded_as_they_are():
    m = METRA(4, METRAConfig(n_skills=3, continuous=True, hidden=(16,)))
    z = m.sample_skill(np.random.default_rng(0))
    assert z.shape == (3,) and z.dtype == np.float32 and abs(np.linalg.norm(z) - 1) < 1e-6
    np.testing.assert_array_equal(m.condition(np.ones(4, np.float32), z)[4:], z)
    from agents.buffer import ReplayBuffer

    buf = ReplayBuffer(8, 4, 1, skill_dim=3)
    for _ in range(8):
        buf.add(np.ones(4), np.zeros(1), 0.0, np.ones(4), False, skill=z)
    b = buf.sample(4, torch.Generator().manual_seed(0))
    assert b.skill.shape == (4, 3) and torch.allclose(b.skill, torch.as_tensor(z).expand(4, 3))
    b = b._replace(next_obs=b.next_obs + torch.randn(4, 4))
    out = m.relabel(b)
    torch.testing.assert_close(out.obs[:, 4:], b.skill)
    by_hand = ((torch.as_tensor(m.embed(b.next_obs.numpy())) - torch.as_tensor(m.embed(b.obs.numpy())))
               * b.skill).sum(-1)  # z itself, not zero-centred
    torch.testing.assert_close(out.reward, by_hand)
    with pytest.raises(ConfigError, match="n_skills is z's dimension"):
        METRAConfig(n_skills=0, continuous=True)


def test_continuous_metra_spreads_with_z_and_reaches_goals_zero_shot(tmp_path):
    from run import main
    from skills.library import SkillLibrary

    run = tmp_path / "metra"
    assert main(["pretrain", "--method", "metra", "--continuous", "--env", "PointMass-v0",
                 "--skills", "2", "--total-steps", "3000", "--learning-starts", "1000",
                 "--eval-every", "3000", "--seed", "0", "--threads", "1", "--run-dir", str(run),
                 "--no-progress", "--no-visualize"]) == 0
    lib = SkillLibrary.load(run)
    skills = lib.shown_skills()
    assert len(skills) == 8
    ends = np.array([lib.rollout(z, seed=0).positions[-1] for z in skills])
    a = np.array([np.arctan2(z[1], z[0]) for z in skills])
    b = np.arctan2(ends[:, 1], ends[:, 0])
    # Circular association: the displacement's angle follows z's up to a rotation or a
    # reflection of phi (either is as good a skill space): 1 for an exact one, ~0 for none.
    association = max(abs(np.mean(np.exp(1j * (b - a)))), abs(np.mean(np.exp(1j * (b + a)))))
    assert association >= 0.8, (association, ends)
    goals = [(3.0, 0.0), (0.0, 3.0), (-3.0, 0.0), (0.0, -3.0)]
    final = [np.linalg.norm(lib.reach(np.array([*g, 0.0, 0.0]), seed=0).positions[-1] - g) for g in goals]
    assert sum(d < 1.0 for d in final) >= 3, final
    with pytest.raises(ValueError, match="goal_obs has shape \\(2,\\); the skills observe \\(4,\\)"):
        lib.reach(np.zeros(2))
    with pytest.raises(ValueError, match="goal_obs has NaN or infinite entries"):
        lib.reach(np.array([3.0, np.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match="a skill of this library is a vector z of 2"):
        lib.rollout(3)


def test_reach_needs_continuous_skills_with_a_phi(pointmass_skills):
    from skills.library import SkillLibrary

    with pytest.raises(ValueError, match="reach steers continuous skills by their phi; these are "
                                         "diayn skills with no phi"):
        SkillLibrary.load(pointmass_skills).reach(np.zeros(4))


def test_flags_of_one_config_are_checked_together_in_any_order(capsys):
    from run import build_parser, main, resolve

    for argv in (["--skills", "1", "--continuous"], ["--continuous", "--skills", "1"]):
        cfg, _ = resolve(build_parser().parse_args(["pretrain", "--method", "metra", *argv]))
        assert cfg.skills.continuous and cfg.skills.n_skills == 1
    assert main(["pretrain", "--method", "metra", "--skills", "1"]) == 2
    assert "--skills must be at least 2" in capsys.readouterr().err


def test_standardized_phi_is_blind_to_the_scale_and_offset_of_each_observation_entry():
    """With `standardize`, phi fitted on its first batch sees (x - mean) / std: rescaling and
    shifting an entry of the observation (metres to millimetres, a joint's zero) changes
    nothing, where plain phi's rewards change."""
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(256, 3)).astype(np.float32)
    next_obs = obs + rng.normal(scale=0.1, size=obs.shape).astype(np.float32)
    skill = torch.as_tensor(rng.integers(2, size=256))
    scale, shift = np.float32([1000.0, 1.0, 0.1]), np.float32([5.0, 0.0, -3.0])

    def rewards(standardize: bool, transform: bool) -> np.ndarray:
        torch.manual_seed(0)
        # A vanishing learning rate: Adam's first step is lr * sign(gradient), and gradients
        # near 0 differ in sign between the two scalings by float rounding alone.
        m = METRA(3, METRAConfig(n_skills=2, hidden=(16,), lr=1e-9, standardize=standardize))
        o, n = (obs * scale + shift, next_obs * scale + shift) if transform else (obs, next_obs)
        m.update(batch_of(o, n, skill))  # fits the statistics on its first batch, then one step
        return m.rewards(batch_of(o, n, skill)).numpy()

    np.testing.assert_allclose(rewards(True, True), rewards(True, False), atol=1e-4)
    assert not np.allclose(rewards(False, True), rewards(False, False), atol=1e-2)
    m = METRA(3, METRAConfig(n_skills=2, hidden=(16,), standardize=True))
    m.update(batch_of(obs * scale, next_obs * scale, skill))
    fitted = m.phi[0].std.clone()
    m.update(batch_of(obs, next_obs, skill))  # frozen after the first batch
    assert torch.equal(m.phi[0].std, fitted)
    restored = METRA(3, METRAConfig(n_skills=2, hidden=(16,), standardize=True))
    restored.load_state_dict(m.state_dict())  # the statistics travel with the checkpoint
    assert torch.equal(restored.phi[0].std, fitted) and bool(restored.phi[0].fitted)


@pytest.mark.parametrize("method", [METRA, LSD])
def test_phi_on_feature_reads_the_appended_feature_and_nothing_else(method):
    from envs.registry import make_env
    from skills.registry import policy_env

    cfg = method.Config(n_skills=2, continuous=True, feature="xy", phi_on_feature=True, standardize=True,
                        hidden=(16,))
    env = policy_env(cfg, make_env("Ant-v5"))
    m = method.build(env, cfg)
    n = env.observation_space.shape[0]
    obs = torch.randn(64, n)
    next_obs = obs + 0.1 * torch.randn(64, n)
    m.update(batch_of(obs, next_obs, torch.randn(64, 2)))  # fits the standardizer on the x-y alone
    assert m.standardizer.mean.shape == (2,)
    torch.testing.assert_close(m.standardizer.mean, torch.cat([obs, next_obs])[:, -2:].mean(0))
    body = obs.clone()
    body[:, :-2] = torch.randn(64, n - 2)  # another posture, the same place
    moved = obs.clone()
    moved[:, -2:] += 1.0  # the same posture, another place
    np.testing.assert_array_equal(m.embed(body.numpy()), m.embed(obs.numpy()))
    assert not np.allclose(m.embed(moved.numpy()), m.embed(obs.numpy()))
    # Without the option, phi reads the posture too.
    whole = method.build(env, method.Config(n_skills=2, continuous=True, feature="xy", hidden=(16,)))
    assert not np.allclose(whole.embed(body.numpy()), whole.embed(obs.numpy()))


def test_phi_on_feature_needs_a_feature_the_observation_leaves_out():
    from envs.registry import make_env
    from skills.registry import policy_env

    with pytest.raises(ConfigError, match="phi_on_feature needs a feature"):
        METRAConfig(n_skills=2, phi_on_feature=True)
    cfg = METRAConfig(n_skills=2, feature="xy", phi_on_feature=True)
    env = policy_env(cfg, make_env("PointMass-v0"))  # observes its x-y already: nothing appended
    with pytest.raises(ConfigError, match="observes 'xy' already"):
        METRA.build(env, cfg)
