"""The hierarchy works: a maxent controller over pretrained skills beats picking skills at random."""

import numpy as np
import pandas as pd

from envs.registry import make_env
from envs.skill_env import SkillEnv
from run import main
from skills.library import SkillLibrary

K_STEPS = 10


def _random_controller_return(skills_dir, episodes: int = 20) -> float:
    lib = SkillLibrary.load(skills_dir)
    env = SkillEnv(make_env("PointMassGoal-v0", seed=10_000), lib, K_STEPS)
    rng = np.random.default_rng(0)
    returns = []
    for _ in range(episodes):
        env.reset()
        done, ret = False, 0.0
        while not done:
            _, r, terminated, truncated, _ = env.step(int(rng.integers(lib.n_skills)))
            ret += r
            done = terminated or truncated
        returns.append(ret)
    return float(np.mean(returns))


def test_hierarchy_beats_random_skill_choice(pointmass_skills, tmp_path):
    code = main(["hierarchy", "--skills-from", str(pointmass_skills), "--task", "PointMassGoal-v0",
                 "--steps-per-skill", str(K_STEPS), "--total-steps", "6000", "--learning-starts", "500",
                 "--eval-every", "6000", "--eval-episodes", "5", "--seed", "0", "--run-dir", str(tmp_path),
                 "--no-progress"])
    assert code == 0
    df = pd.read_csv(tmp_path / "metrics.csv")
    learned = df["eval/return"].dropna().iloc[-1]
    random = _random_controller_return(pointmass_skills)
    # Dense reward is minus the distance to the goal, summed over 100 steps: a clear margin.
    assert learned > random + 100, (learned, random)
    assert df["step"].iloc[-1] == 6000  # steps count the robot's steps, not the controller's
