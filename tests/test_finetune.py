"""Fine-tuning starts from the pretrained skill (its first evaluation is that skill's task return)
and keeps the pretrained weights, on tasks that append entries to the robot's observation too;
--scratch does not; skills only run on their own robot."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from run import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--hidden", "16", "--batch-size", "16", "--no-progress", "--eval-episodes", "2"]


@pytest.fixture(scope="module")
def skills(tmp_path_factory):
    d = tmp_path_factory.mktemp("skills")
    assert main(["pretrain", "--skills", "4", "--total-steps", "600", "--learning-starts", "200",
                 "--disc-hidden", "16", "--no-visualize", "--run-dir", str(d), *SMALL]) == 0
    return d


def test_finetune_starts_from_the_best_skill(skills, tmp_path):
    assert main(["finetune", "--skills-from", str(skills), "--task", "PointMassGoal-v0",
                 "--total-steps", "300", "--learning-starts", "100", "--eval-every", "300",
                 "--run-dir", str(tmp_path), *SMALL]) == 0
    returns = pd.read_csv(tmp_path / "skill_returns.csv")
    assert len(returns) == 4
    first_eval = pd.read_csv(tmp_path / "metrics.csv")["eval/return"].iloc[0]
    assert first_eval == pytest.approx(returns["task_return"].max(), rel=1e-6)
    import json

    config = json.loads((tmp_path / "config.json").read_text())
    assert config["skill"] == int(returns["task_return"].idxmax())
    # --resume alone finds the skills, the task and the chosen skill in the run's config.json
    assert main(["finetune", "--resume", "--total-steps", "400", "--run-dir", str(tmp_path), *SMALL]) == 0
    assert pd.read_csv(tmp_path / "metrics.csv")["step"].iloc[-1] == 400


def test_finetune_keeps_pretrained_weights_and_scratch_does_not(skills, tmp_path):
    pre = torch.load(skills / "checkpoints" / "latest.pt", weights_only=True)["agent"]
    # learning_starts beyond the budget: no update, so the weights must be exactly the pretrained ones
    for name, extra in (("ft", []), ("scratch", ["--scratch"])):
        assert main(["finetune", "--skills-from", str(skills), "--task", "PointMassGoal-v0",
                     "--total-steps", "50", "--learning-starts", "1000", "--run-dir",
                     str(tmp_path / name), *SMALL, *extra]) == 0
    ft = torch.load(tmp_path / "ft" / "checkpoints" / "latest.pt", weights_only=True)["agent"]
    for part in ("actor", "critic", "critic_target"):
        for k, v in pre[part].items():
            assert torch.equal(ft[part][k], v), (part, k)
    scratch = torch.load(tmp_path / "scratch" / "checkpoints" / "latest.pt", weights_only=True)["agent"]
    first = next(iter(pre["actor"]))
    assert scratch["actor"][first].shape[1] == 4  # the task's observation, no skill one-hot
    assert pre["actor"][first].shape[1] == 4 + 4


def test_a_fixed_alpha_is_the_one_fine_tuning_uses(skills, tmp_path):
    """--alpha X fixes the fine-tuned agent's temperature at X, not at the pretraining's learned
    alpha (which the pretrained networks otherwise bring along)."""
    import math

    learned = float(torch.load(skills / "checkpoints" / "latest.pt", weights_only=True)["agent"]
                    ["log_alpha"].exp())
    assert abs(learned - 0.3) > 0.05  # so the check below can tell them apart
    assert main(["finetune", "--skills-from", str(skills), "--task", "PointMassGoal-v0", "--alpha",
                 "0.3", "--total-steps", "200", "--learning-starts", "100", "--eval-every", "200",
                 "--log-every", "50", "--run-dir", str(tmp_path), *SMALL]) == 0
    alpha = pd.read_csv(tmp_path / "metrics.csv")["train/alpha"].dropna()
    assert len(alpha) > 0 and np.allclose(alpha, 0.3), alpha
    log_alpha = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=True)["agent"]["log_alpha"]
    assert float(log_alpha) == pytest.approx(math.log(0.3))


def test_skills_of_another_robot_are_refused(skills, tmp_path):
    proc = subprocess.run([sys.executable, "run.py", "finetune", "--skills-from", str(skills), "--task",
                           "HalfCheetah-v5", "--run-dir", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "PointMass" in proc.stderr and "HalfCheetah" in proc.stderr


def test_task_entries_join_the_skill_with_zero_weights(tmp_path):
    # CheetahHurdle-v0 appends the next hurdle's distance to the cheetah's 17 entries, which skills
    # from the bare robot never saw; their x (--feature x) comes after it. The networks get an
    # input of zero weight for it: a run with no update yet acts as the skill (to float rounding),
    # whatever the hurdle's distance, and updates give the input weight. From scratch, SAC's
    # networks are fresh and take the task's whole observation.
    from agents.registry import build_agent
    from cli.configs import read_run
    from envs.registry import make_env
    from skills.library import SkillLibrary

    assert main(["pretrain", "--env", "HalfCheetah-v5", "--skills", "2", "--feature", "x",
                 "--total-steps", "30", "--eval-every", "30", "--learning-starts", "10",
                 "--disc-hidden", "16", "--no-visualize", "--run-dir", str(tmp_path / "skills"),
                 *SMALL]) == 0
    # updates from step 20
    for name, steps, *scratch in (("before", "10"), ("after", "60"), ("scratch", "30", "--scratch")):
        assert main(["finetune", "--skills-from", str(tmp_path / "skills"), "--task",
                     "CheetahHurdle-v0", "--total-steps", steps, "--learning-starts", "20",
                     "--eval-every", "60", "--run-dir", str(tmp_path / name), *scratch, *SMALL]) == 0
    lib = SkillLibrary.load(tmp_path / "skills")
    config = read_run(tmp_path / "before", "finetune")
    env = lib.observed(make_env("CheetahHurdle-v0"))
    agent = build_agent(config.agent_config, env.observation_space.shape[0] + 2, env.action_space)
    agent.load_state_dict(torch.load(tmp_path / "before" / "checkpoints" / "latest.pt",
                                     weights_only=False)["agent"])
    obs, _ = env.reset(seed=0)
    one_hot = np.eye(2, dtype=np.float32)[config.skill]
    for _ in range(50):
        assert obs.shape == (17 + 1 + 1,)  # robot, hurdle, x
        np.testing.assert_allclose(agent.act(np.r_[obs, one_hot].astype(np.float32), True),
                                   lib.act(np.delete(obs, 17), config.skill), atol=1e-5)
        obs, *_ = env.step(env.action_space.sample())
    state = torch.load(tmp_path / "after" / "checkpoints" / "latest.pt", weights_only=False)["agent"]
    assert state["actor"]["trunk.0.weight"][:, 17].abs().max() > 0
    assert state["critic"]["weights.0"][:, 17].abs().max() > 0
    state = torch.load(tmp_path / "scratch" / "checkpoints" / "latest.pt", weights_only=False)["agent"]
    assert state["actor"]["trunk.0.weight"].shape[1] == 17 + 1  # no skill, no x: the task alone


def test_a_skill_fine_tuned_with_task_entries_is_filmed(rendering, tmp_path):
    # run.py visualize rebuilds the fine-tuned networks from the task's observation, hurdle included
    assert main(["pretrain", "--env", "HalfCheetah-v5", "--skills", "2", "--total-steps", "30",
                 "--eval-every", "30", "--learning-starts", "10", "--disc-hidden", "16",
                 "--no-visualize", "--run-dir", str(tmp_path / "skills"), *SMALL]) == 0
    assert main(["finetune", "--skills-from", str(tmp_path / "skills"), "--task", "CheetahHurdle-v0",
                 "--total-steps", "30", "--learning-starts", "10", "--eval-every", "30",
                 "--run-dir", str(tmp_path / "ft"), *SMALL]) == 0
    assert main(["visualize", "--run-dir", str(tmp_path / "ft"), "--steps", "5", "--size", "32"]) == 0
    assert (tmp_path / "ft" / "media" / "policy.mp4").stat().st_size > 0


def test_inserted_inputs_leave_a_layer_as_it_was():
    from skills.reuse import insert_inputs

    g = torch.Generator().manual_seed(0)
    linear, batched = torch.randn(5, 4, generator=g), torch.randn(2, 4, 5, generator=g)
    x = torch.randn(7, 4, generator=g)
    wider = torch.cat([x[:, :3], torch.randn(7, 2, generator=g), x[:, 3:]], dim=1)
    torch.testing.assert_close(wider @ insert_inputs(linear, 3, 2).T, x @ linear.T)
    torch.testing.assert_close(wider @ insert_inputs(batched, 3, 2), x @ batched)


def test_skills_pretrained_on_the_task_fine_tune_on_it(tmp_path):
    # Skills pretrained reward-free on CheetahHurdle-v0 took its hurdle entry then: the task that
    # refuses skills from the bare robot fits theirs.
    assert main(["pretrain", "--env", "CheetahHurdle-v0", "--skills", "2", "--feature", "x",
                 "--total-steps", "30", "--eval-every", "30", "--learning-starts", "10",
                 "--disc-hidden", "16", "--no-visualize", "--run-dir", str(tmp_path / "skills"),
                 *SMALL]) == 0
    assert main(["finetune", "--skills-from", str(tmp_path / "skills"), "--task", "CheetahHurdle-v0",
                 "--total-steps", "30", "--eval-every", "30", "--run-dir", str(tmp_path / "ft"),
                 *SMALL]) == 0
    assert (tmp_path / "ft" / "skill_returns.csv").is_file()

def test_pretrain_dir_that_is_not_a_pretraining_run(tmp_path):
    assert main(["train", "--env", "PointMassGoal-v0", "--total-steps", "50", "--learning-starts", "10",
                 "--run-dir", str(tmp_path / "sac"), *SMALL]) == 0
    proc = subprocess.run([sys.executable, "run.py", "finetune", "--skills-from", str(tmp_path / "sac"),
                           "--task", "PointMassGoal-v0", "--run-dir", str(tmp_path / "ft")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not a pretrain run" in proc.stderr
