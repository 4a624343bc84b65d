"""DIAYN: the pseudo-reward by hand, relabelling on s', gradients kept apart, and skills learned."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from agents.buffer import Batch
from run import main
from skills.diayn import DIAYN, DIAYNConfig, append_skill, diayn_reward
from skills.evaluate import rollout_mid_episode

ROOT = Path(__file__).resolve().parents[1]
K = 4


def test_uniform_discriminator_gives_zero_reward():
    r = diayn_reward(torch.zeros(K, K), torch.arange(K), K)
    torch.testing.assert_close(r, torch.zeros(K))


def test_confident_right_discriminator_tends_to_log_k_and_wrong_one_is_very_negative():
    logits = torch.full((K, K), -50.0)
    logits[torch.arange(K), torch.arange(K)] = 50.0
    right = diayn_reward(logits, torch.arange(K), K)
    wrong = diayn_reward(logits, (torch.arange(K) + 1) % K, K)
    torch.testing.assert_close(right, torch.full((K,), math.log(K)))
    assert (wrong < -90).all()


def test_reward_by_hand():
    # q = softmax([log 3, 0]) = (3/4, 1/4); K = 2: r_0 = log(3/4) + log 2, r_1 = log(1/4) + log 2
    logits = torch.tensor([[math.log(3.0), 0.0], [math.log(3.0), 0.0]])
    r = diayn_reward(logits, torch.tensor([0, 1]), 2)
    torch.testing.assert_close(r, torch.tensor([math.log(1.5), math.log(0.5)]))


def _batch(n=6, obs_dim=3) -> Batch:
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(n, obs_dim, generator=g)
    next_obs = torch.randn(n, obs_dim, generator=g)
    return Batch(obs, torch.zeros(n, 1), torch.full((n,), 7.0), next_obs, torch.zeros(n),
                 torch.arange(n) % K, next_obs)


def test_relabel_uses_next_state_and_stored_skill():
    diayn = DIAYN(3, DIAYNConfig(n_skills=K, hidden=(8,)))
    batch = _batch()
    out = diayn.relabel(batch)
    with torch.no_grad():
        expected = diayn_reward(diayn.discriminator(batch.next_obs), batch.skill, K)
        on_s = diayn_reward(diayn.discriminator(batch.obs), batch.skill, K)
    torch.testing.assert_close(out.reward, expected)
    assert not torch.allclose(out.reward, on_s)
    torch.testing.assert_close(out.obs, append_skill(batch.obs, batch.skill, K))
    torch.testing.assert_close(out.obs[:, 3:].argmax(-1), batch.skill)
    torch.testing.assert_close(out.next_obs[:, :3], batch.next_obs)
    assert not out.reward.requires_grad


def test_alive_bonus_is_added_to_every_step_after_the_scale():
    plain = DIAYN(3, DIAYNConfig(n_skills=K, hidden=(8,), reward_scale=2.0))
    alive = DIAYN(3, DIAYNConfig(n_skills=K, hidden=(8,), reward_scale=2.0, alive_bonus=1.0))
    alive.discriminator.load_state_dict(plain.discriminator.state_dict())
    batch = _batch()
    with torch.no_grad():
        by_hand = 2.0 * diayn_reward(plain.discriminator(batch.next_obs), batch.skill, K) + 1.0
    torch.testing.assert_close(alive.relabel(batch).reward, by_hand)
    torch.testing.assert_close(alive.update(batch)[0].reward, by_hand)  # the reward SAC trains on
    with pytest.raises(ValueError, match="alive_bonus must be >= 0"):
        DIAYNConfig(alive_bonus=-1.0)


def test_update_trains_discriminator_and_returns_pre_step_reward():
    diayn = DIAYN(3, DIAYNConfig(n_skills=K, hidden=(8,), lr=1e-2))
    batch = _batch()
    before = diayn.relabel(batch).reward
    logits = diayn.discriminator(batch.next_obs).detach()
    relabelled, metrics = diayn.update(batch)
    torch.testing.assert_close(relabelled.reward, before)
    # the loss is the cross-entropy of the skills on s', the entropy that of q(. | s')
    assert metrics["skill/disc_loss"] == pytest.approx(F.cross_entropy(logits, batch.skill).item(), rel=1e-5)
    q = logits.softmax(-1)
    assert metrics["skill/disc_entropy"] == pytest.approx(-(q * q.log()).sum(-1).mean().item(), rel=1e-5)
    assert set(metrics) >= {"skill/disc_loss", "skill/disc_accuracy", "skill/intrinsic_reward",
                            "skill/log_q_z", "skill/disc_entropy"}
    losses = [diayn.update(batch)[1]["skill/disc_loss"] for _ in range(50)]
    assert losses[-1] < metrics["skill/disc_loss"]


def test_policy_update_never_changes_the_discriminator():
    from agents.sac import SAC, SACConfig

    diayn = DIAYN(3, DIAYNConfig(n_skills=K, hidden=(8,)))
    agent = SAC(3 + K, 1, SACConfig(hidden=(8,), batch_size=6))
    before = [p.clone() for p in diayn.discriminator.parameters()]
    batch = _batch()
    batch = batch._replace(action=torch.rand(6, 1) * 2 - 1)
    agent.update(diayn.relabel(batch))
    for p, q in zip(before, diayn.discriminator.parameters()):
        assert torch.equal(p, q) and q.grad is None


@pytest.mark.parametrize("skill_steps", [0, 25])
def test_skill_is_stored_with_every_transition(tmp_path, skill_steps):
    from agents.loop import LoopConfig, OffPolicyLoop
    from agents.sac import SAC, SACConfig
    from envs.registry import make_env

    env = make_env("PointMass-v0", seed=0)
    diayn = DIAYN(4, DIAYNConfig(n_skills=K, hidden=(8,), skill_steps=skill_steps))
    agent = SAC(4 + K, 2, SACConfig(hidden=(8,), batch_size=8, learning_starts=250))
    loop = OffPolicyLoop(LoopConfig(total_steps=500, eval_every=10_000, progress=False), env, agent,
                         lambda policy: {}, tmp_path, plugin=diayn)
    loop.run()
    skills = loop.buffer._np["skill"][:500].reshape(5, 100)  # 5 episodes of 100 steps
    if skill_steps == 0:
        assert (skills == skills[:, :1]).all()  # one skill per episode
        assert len(set(skills[:, 0])) > 1
    else:
        blocks = skills.reshape(5, 4, 25)  # redrawn every 25 steps, and only then
        assert (blocks == blocks[..., :1]).all()
        assert (blocks[:, 1:, 0] != blocks[:, :-1, 0]).any()  # and it does change within an episode


def _named_after_another_skill(lib) -> np.ndarray:
    """[a, b]: whether skill b, run for 25 steps from where 25 steps of skill a left the point
    mass, is named b by the discriminator from its last 10 states."""
    named = np.zeros((lib.n_skills, lib.n_skills), dtype=bool)
    for a in range(lib.n_skills):
        for b in range(lib.n_skills):
            env = lib.make_env(seed=10 * a + b)
            obs, _ = env.reset(seed=10 * a + b)
            for _ in range(25):
                obs, *_ = env.step(lib.act(obs, a))
            states = []
            for _ in range(25):
                obs, *_ = env.step(lib.act(obs, b))
                states.append(obs)
            named[a, b] = lib.infer_skill(np.asarray(states[-10:])) == b
    return named


def test_skills_redrawn_within_episodes_work_from_each_others_states(tmp_path, pointmass_skills):
    """--skill-steps: each skill, started where another left the point mass, still goes its own
    way. Skills drawn once per episode (the fixture's, fully learned from the start state) do
    not, which is what the flag is for."""
    from skills.library import SkillLibrary

    assert main(["pretrain", "--env", "PointMass-v0", "--skills", "4", "--total-steps", "6000",
                 "--learning-starts", "1000", "--hidden", "64", "64", "--disc-hidden", "64", "64",
                 "--lr", "1e-3", "--skill-steps", "25", "--eval-every", "6000", "--seed", "0",
                 "--run-dir", str(tmp_path), "--no-progress", "--no-visualize"]) == 0
    redrawn = _named_after_another_skill(SkillLibrary.load(tmp_path))
    assert redrawn.mean() >= 0.9, redrawn
    once = _named_after_another_skill(SkillLibrary.load(pointmass_skills))
    assert once.mean() < 0.8, once

    # evaluation logs both: skills from the reset state, and started after another's 25 steps;
    # the same mid-episode measure tells the fixture's skills (drawn once per episode) apart
    last = pd.read_csv(tmp_path / "metrics.csv").dropna(subset=["eval/disc_accuracy"]).iloc[-1]
    assert last["eval/mid_disc_accuracy"] >= 0.8, last["eval/mid_disc_accuracy"]
    assert "eval/mid_disc_accuracy" not in pd.read_csv(pointmass_skills / "metrics.csv")
    fixture = SkillLibrary.load(pointmass_skills)
    fixture.method.skill_steps = 25
    mid = rollout_mid_episode(fixture.make_env(seed=0), lambda o, z: fixture.act(o, z), fixture.method, 2)
    accuracy = np.mean([(r.predicted == r.skill).mean() for r in mid])
    assert accuracy < last["eval/mid_disc_accuracy"] - 0.1, accuracy


def test_pretraining_discovers_distinguishable_skills(pointmass_skills):
    tmp_path = pointmass_skills
    df = pd.read_csv(tmp_path / "metrics.csv")
    evals = df.dropna(subset=["eval/disc_accuracy"])
    assert evals["eval/disc_accuracy"].iloc[0] < 0.5  # chance is 0.25 before training
    assert evals["eval/disc_accuracy"].iloc[-1] >= 0.9
    for col in ("skill/disc_accuracy", "skill/disc_loss", "skill/intrinsic_reward", "skill/log_q_z",
                "skill/disc_entropy", "eval/coverage", "train/alpha"):
        assert df[col].notna().any(), col


def test_infer_skill_recovers_the_skill_of_a_rollout(pointmass_skills):
    # The paper's imitation (Sec. 4.2.3): a demonstration made by skill z, from start states the
    # skills were never evaluated on, is matched to z by argmax_z sum_t log q(z | s_t).
    from skills.library import SkillLibrary

    lib = SkillLibrary.load(pointmass_skills)
    env = lib.make_env()
    inferred = [lib.infer_skill(lib.rollout(z, env=env, seed=100 + z).features[1:])
                for z in range(lib.n_skills)]
    assert inferred == list(range(lib.n_skills))
    # A demonstration stitched from two skills is matched to the one it shows for longer (four
    # times as many steps), among the skills that end far out. sum_t log q(z | s_t) also weighs
    # how sure q is: here log q of the wrong skill is -10 to -34 a step at those skills' ends,
    # so at 2:1 the part q is surer of can win, and a skill that stays near the start, where
    # the others pass, loses even with more steps.
    rolls = [lib.rollout(z, env=env, seed=200 + z).features[1:] for z in range(lib.n_skills)]
    far = [z for z in range(lib.n_skills) if np.linalg.norm(rolls[z][-1][:2]) > 2.5]
    assert len(far) >= 3
    for a, b in zip(far, far[1:] + far[:1]):
        assert lib.infer_skill(np.concatenate([rolls[a][-20:], rolls[b][-80:]])) == b
        assert lib.infer_skill(np.concatenate([rolls[a][-80:], rolls[b][-20:]])) == a
    width = rolls[0].shape[1]
    for wrong in (np.zeros(width), np.zeros((5, width + 3))):
        with pytest.raises(ValueError, match=rf"wants a \(T, {width}\) array"):
            lib.infer_skill(wrong)
    with pytest.raises(ValueError, match=f"these skills act on {lib.obs_dim} entries"):
        lib.act(np.zeros(lib.obs_dim - 1), 0)


def test_skill_library_acts_as_the_policy_did(tmp_path):
    from skills.library import SkillLibrary

    assert main(["pretrain", "--skills", "3", "--total-steps", "300", "--learning-starts", "100",
                 "--hidden", "16", "--disc-hidden", "16", "--batch-size", "16", "--run-dir",
                 str(tmp_path), "--no-progress", "--threads", "1"]) == 0
    state = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=True)
    lib = SkillLibrary.load(tmp_path)
    assert lib.n_skills == 3 and lib.env_name == "PointMass-v0"
    obs = np.array([0.5, -1.0, 0.1, 0.2], np.float32)
    # the actor as saved, evaluated by hand on [obs, one_hot(z)]
    from agents.nets import Actor

    actor = Actor(4 + 3, 2, (16,))
    actor.load_state_dict(state["agent"]["actor"])
    for z in range(3):
        x = torch.as_tensor(np.concatenate([obs, np.eye(3, dtype=np.float32)[z]]))[None]
        expected = torch.tanh(actor(x)[0])[0].detach().numpy()
        np.testing.assert_allclose(lib.act(obs, z), expected, rtol=1e-6, atol=1e-7)
    roll = lib.rollout(1, steps=10, seed=0)
    assert roll.states.shape == (11, 4) and roll.actions.shape == (10, 2)
    assert roll.log_q_z.shape == (10,) and np.all(roll.log_q_z <= 0)
    with pytest.raises(ValueError, match="skills 0..2"):
        lib.act(obs, 3)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args, needle", [
    (["--skills", "1"], "at least 2"),
    (["--feature", "z"], "it exposes: x, xy, vx, vxy, heading"),
    (["--skill-steps", "-1"], "--skill-steps must be 0"),
])
def test_bad_pretrain_input_is_one_line(tmp_path, args, needle):
    proc = _cli("pretrain", "--total-steps", "10", "--run-dir", str(tmp_path), *args)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr


def test_library_refuses_a_run_of_another_kind(tmp_path):
    from agents.rundir import RunDirError
    from skills.library import SkillLibrary

    assert main(["train", "--env", "Pendulum-v1", "--total-steps", "50", "--learning-starts", "10",
                 "--hidden", "8", "--batch-size", "8", "--run-dir", str(tmp_path), "--no-progress"]) == 0
    with pytest.raises(RunDirError, match="not a pretrain run"):
        SkillLibrary.load(tmp_path)
    proc = _cli("pretrain", "--resume", "--run-dir", str(tmp_path))
    assert proc.returncode == 2 and "not a pretrain run" in proc.stderr


def test_library_evaluate_pools_fresh_rollouts_of_every_skill(pointmass_skills):
    from skills.library import SkillLibrary

    lib = SkillLibrary.load(pointmass_skills)
    out = lib.evaluate(episodes=3, seed=5)
    # By hand, from the discriminator's log-probabilities of every state each rollout reached,
    # with the seeds evaluate documents (seed + episode * K + skill).
    right = total = 0
    starts = set()
    for e in range(3):
        for z in range(4):
            r = lib.rollout(z, seed=5 + 4 * e + z)
            starts.add(tuple(np.round(r.positions[0], 9)))
            log_p = np.stack([lib.log_q_z(r.features[1:], k) for k in range(4)], axis=1)
            right += int((log_p.argmax(1) == z).sum())
            total += len(log_p)
    assert out["eval/disc_accuracy"] == pytest.approx(right / total)
    assert len(starts) == 12  # each rollout from its own start, not one start 3 times
    assert out["eval/disc_accuracy"] > 0.5  # 4 skills told apart well above chance (0.25)
    # Actions sampled as in training: other paths, the same skills still told apart.
    sampled = lib.evaluate(episodes=3, seed=5, deterministic=False)
    assert sampled["eval/travel"] != out["eval/travel"] and sampled["eval/disc_accuracy"] > 0.5
    # The sampled actions come from the seed: the same call, the same numbers, whatever the
    # caller's torch random state, which is left as it was.
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    assert lib.evaluate(episodes=3, seed=5, deterministic=False) == sampled
    assert torch.equal(torch.random.get_rng_state(), state)
    assert lib.evaluate(episodes=3, seed=6, deterministic=False) != sampled
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        lib.evaluate(episodes=0)
