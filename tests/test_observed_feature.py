"""A skill reward that reads state the robot's observation leaves out (the torso's position on
v5 robots) is seen by the policy: appended to its observation in training, in the library, in
the hierarchy's SkillEnv and in fine-tuning."""

import numpy as np
import pytest

from cli.configs import PretrainConfig, read_run
from envs.registry import FeatureInObservation, hides_feature, make_env, observe_feature, state_feature
from envs.skill_env import SkillEnv
from run import main
from skills.diayn import DIAYNConfig
from skills.library import SkillLibrary
from skills.registry import policy_env


def _random_states(env, n: int, rng: np.random.Generator):
    """n states of `env`'s robot with random joint positions and velocities, and the torso
    anywhere within 10 m: (observation, xy feature) after each."""
    u = env.unwrapped
    feature = state_feature(env, "xy")
    out = []
    for _ in range(n):
        qpos = u.init_qpos + rng.normal(0, 0.1, u.model.nq)
        qpos[:2] = rng.uniform(-10, 10, 2)
        u.set_state(qpos, rng.normal(0, 1, u.model.nv))
        obs = env.observation(u._get_obs()) if isinstance(env, FeatureInObservation) else u._get_obs()
        out.append((obs, feature().copy()))
    return out


def test_the_policy_observes_the_xy_its_reward_reads():
    """Ant-v5 with --feature xy: in the env as pretraining builds it, the observation determines
    the feature (it is a function of it) on 100 random states; the robot's own observation does
    not (two states that differ only in x-y look the same)."""
    cfg = PretrainConfig(env="Ant-v5", skills=DIAYNConfig(feature="xy"))
    raw = make_env("Ant-v5", seed=0)
    env = policy_env(cfg.skills, make_env("Ant-v5", seed=0))
    assert env.observation_space.shape[0] == raw.observation_space.shape[0] + 2
    states = _random_states(env, 100, np.random.default_rng(0))
    obs = np.array([o for o, _ in states])
    feats = np.array([f for _, f in states])
    # a function of the observation: the same observation never comes with two features (every
    # observation here is distinct), and the feature is read off it
    assert len({o.tobytes() for o in obs}) == 100
    np.testing.assert_allclose(obs[:, -2:], feats, rtol=1e-6)

    u = raw.unwrapped
    qpos, qvel = u.init_qpos.copy(), u.init_qvel.copy()
    u.set_state(qpos, qvel)
    before = u._get_obs()
    qpos[:2] += (3.0, -2.0)
    u.set_state(qpos, qvel)
    np.testing.assert_array_equal(u._get_obs(), before)  # blind to where the torso is
    blind = PretrainConfig(env="Ant-v5", skills=DIAYNConfig(feature="xy", observe_feature=False))
    assert policy_env(blind.skills, raw) is raw


def test_only_features_the_observation_leaves_out_are_appended():
    ant = make_env("Ant-v5")
    assert hides_feature(ant, "xy") and hides_feature(ant, "x,vx") and not hides_feature(ant, "vxy")
    assert not hides_feature(ant, "com_vxy") and not hides_feature(ant, None)
    assert not hides_feature(make_env("PointMass-v0"), "xy")  # its observation holds x-y
    wrapped = observe_feature(ant, "xy")
    assert isinstance(wrapped, FeatureInObservation) and observe_feature(wrapped, "xy") is wrapped


@pytest.fixture(scope="module")
def ant_xy_skills(tmp_path_factory):
    """Two xy skills on the low-gear Ant, barely trained: enough to check every shape."""
    d = tmp_path_factory.mktemp("ant_xy")
    assert main(["pretrain", "--env", "AntLowGear-v0", "--feature", "xy", "--skills", "2",
                 "--total-steps", "60", "--learning-starts", "30", "--batch-size", "8",
                 "--hidden", "16", "16", "--disc-hidden", "16", "--eval-every", "60",
                 "--eval-episodes", "1", "--seed", "0", "--run-dir", str(d), "--no-progress",
                 "--no-visualize"]) == 0
    return d


def test_training_stores_the_feature_in_what_the_agent_sees(ant_xy_skills):
    from agents.checkpoint import load_checkpoint

    buf = load_checkpoint(ant_xy_skills / "checkpoints")["buffer"]
    assert buf["next_obs"].shape[1] == 105 + 2
    np.testing.assert_allclose(buf["next_obs"][:, -2:], buf["next_feature"], rtol=1e-6)
    assert read_run(ant_xy_skills).skills.observe_feature


def test_library_and_skill_env_show_the_skills_the_feature(ant_xy_skills):
    lib = SkillLibrary.load(ant_xy_skills)
    seen = []
    act = lib.act
    lib.act = lambda obs, z, deterministic=True: (seen.append(obs), act(obs, z, deterministic))[-1]
    rollout = lib.rollout(0, steps=5, seed=0)
    assert rollout.actions.shape == (5, 8) and seen[-1].shape == (107,)

    # AntWaypoints appends the waypoint after the robot's 105 entries; the skills see those
    # 105 and the torso's x-y, the controller the task's own observation
    task = make_env("AntWaypoints-v0", seed=0)
    env = SkillEnv(task, lib, steps_per_skill=3)
    env.reset(seed=0)
    xy = task.unwrapped.data.qpos[:2].copy()
    seen.clear()
    obs, *_ = env.step(1)
    assert obs.shape == (107,) and len(seen) == 3 and seen[0].shape == (107,)
    np.testing.assert_allclose(seen[0][-2:], xy, rtol=1e-6)


def test_finetuning_feeds_the_skill_what_it_saw(ant_xy_skills, tmp_path):
    from analysis.policies import load_policy

    assert main(["finetune", "--skills-from", str(ant_xy_skills), "--task", "AntLowGear-v0",
                 "--total-steps", "20", "--learning-starts", "10", "--batch-size", "8",
                 "--eval-every", "20", "--eval-episodes", "1", "--run-dir", str(tmp_path),
                 "--no-progress"]) == 0
    env, policy = load_policy(tmp_path, read_run(tmp_path))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (107,) and policy(obs).shape == (8,)
    env.close()
