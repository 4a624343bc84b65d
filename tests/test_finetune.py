"""Fine-tuning starts from the pretrained skill (its first evaluation is that skill's task return)
and keeps the pretrained weights; --scratch does not; skills only run on their own robot."""

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


def test_task_with_its_own_observation_entries_is_refused(tmp_path, capsys):
    # AntWaypoints appends the waypoint to the low-gear ant's observation: the skills' networks
    # take the robot's 105 entries only, so fine-tuning them there cannot work; hierarchy can.
    assert main(["pretrain", "--env", "AntLowGear-v0", "--skills", "2", "--total-steps", "30",
                 "--eval-every", "30", "--learning-starts", "10", "--eval-episodes", "1",
                 "--disc-hidden", "16", "--no-visualize", "--run-dir", str(tmp_path / "ant"), *SMALL]) == 0
    capsys.readouterr()
    assert main(["finetune", "--skills-from", str(tmp_path / "ant"), "--task", "AntWaypoints-v0",
                 "--total-steps", "30", "--run-dir", str(tmp_path / "ft")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "run.py hierarchy" in err and "105" in err
    # from scratch, SAC's networks are fresh and take the task's whole observation
    assert main(["finetune", "--skills-from", str(tmp_path / "ant"), "--task", "AntWaypoints-v0",
                 "--scratch", "--total-steps", "30", "--learning-starts", "10", "--eval-every", "30",
                 "--eval-episodes", "1", "--run-dir", str(tmp_path / "scratch"), *SMALL]) == 0



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
