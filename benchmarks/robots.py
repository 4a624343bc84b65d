"""Skills on every robot, in one table: what each robot's skills do, read from pretraining runs.

For each run dir given (a `run.py pretrain` run, e.g. from `configs/skills_<robot>.json`): the
held-out discriminator accuracy of its final skills over --episodes fresh rollouts of each (5;
the single rollout per skill that training logs swings by 0.1-0.2 between evaluations), as the
DIAYN authors' videos run them, on the policy's mean action, and beside it with actions sampled
as in training (an ant's gait can live in the sampling: its mean action may not walk); for
skills without a discriminator (METRA, LSD), the held-out accuracy of a classifier of the skill
from the robot's position, fitted to as many other rollouts of each skill; the
coverage of 1 m cells by one deterministic rollout of each skill against a uniformly random
policy's over as many episodes, the wall time of its training, and, from those rollouts, each
skill's mean speed along x (planar robots) or over the ground (x-y robots), counted as
- forward (> --moving m/s along +x) or backward (< -moving) on planar robots, moving on x-y ones;
- standing (slower than that);
- fallen: the robot was down at some step (`skills.metrics.fallen`: out of Gymnasium's healthy
  range below or by angle, or upside down), whether or not the episode ended there; counted apart
  from the others.
The markdown table goes to stdout and, with --readme, between the markers
`<!-- robots table -->` and `<!-- end robots table -->` of the README, so it cannot drift from
the runs; --merge keeps the rows there of runs not given (their run dirs on another machine)
and replaces those of the same robot and run.

    python benchmarks/robots.py runs/hopper-s0 runs/hopper-s1 runs/walker-s0 ... [--readme README.md]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import count, main_or_exit, non_negative, positive, random_coverage, write_readme  # noqa: E402

from run import OneLineParser  # noqa: E402

# What `run.py visualize` leaves in a run's media/ that the table points to.
MEDIA = ("skills_grid.mp4", "trajectories.png")


def skill_motion(lib, z, seed: int, moving: float) -> dict:
    """One deterministic episode of skill z: what it did (skills.metrics.motion: the label and
    the speed) and the positions visited."""
    from skills.evaluate import position_fn
    from skills.metrics import fallen, motion

    env = lib.make_env(seed)
    position, base = position_fn(env), env.unwrapped
    obs, _ = env.reset(seed=seed)
    points, fell, done = [position()], False, False
    while not done:
        obs, _, terminated, truncated, _ = env.step(lib.act(obs, z))
        points.append(position())
        fell |= fallen(env)
        done = terminated or truncated
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    label, speed = motion(points, base.dt, fell, moving)
    return {"label": label, "speed": speed, "points": points}


def baseline_options(env_kwargs: dict) -> dict:
    """The skills' env options for the random policy, less `terminate_when_flipped`: a random
    Ant-v5 tumbles past the horizontal within 35-230 steps, and ending its episodes there would
    shrink the baseline that a run's coverage is divided by."""
    return {k: v for k, v in env_kwargs.items() if k != "terminate_when_flipped"}


def held_out_accuracy(lib, episodes: int, seed: int) -> dict:
    """The skills' held-out accuracy over fresh rollouts, on mean and on sampled actions: their
    discriminator's, or, for skills without a classifier q(z|s) (METRA, LSD), a classifier's of
    the skill from the robot's position fitted to as many other rollouts (`position_accuracy`)."""
    if lib.method.predict is not None:
        return {"classifier": "discriminator",
                **{key: lib.evaluate(episodes, seed, deterministic=det)["eval/disc_accuracy"]
                   for key, det in (("accuracy", True), ("accuracy_stochastic", False))}}
    return {"classifier": "position",
            **{key: position_accuracy(lib, episodes, seed, det)
               for key, det in (("accuracy", True), ("accuracy_stochastic", False))}}


def position_accuracy(lib, episodes: int, seed: int, deterministic: bool) -> float:
    """Held-out accuracy of a classifier of the skill from the robot's position (what coverage
    and motion count) at every step: fitted to `episodes` rollouts of each shown skill, scored on
    as many others from other starts (`skills.metrics.fitted_accuracy`)."""
    from skills.metrics import fitted_accuracy

    def labelled(first_seed: int) -> tuple[np.ndarray, np.ndarray]:
        rollouts = lib.rollouts(episodes, first_seed, deterministic)
        labels = [np.full(len(r.positions) - 1, i // episodes) for i, r in enumerate(rollouts)]
        return np.concatenate([r.positions[1:] for r in rollouts]), np.concatenate(labels)

    return fitted_accuracy(labelled(seed), labelled(seed + 10_000), len(lib.shown_skills()), seed)


def robot_row(run_dir: Path, moving: float, seed: int, episodes: int) -> dict:
    from cli.configs import read_run
    from skills.library import SkillLibrary
    from skills.metrics import coverage

    cfg = read_run(run_dir, "pretrain")
    metrics = pd.read_csv(run_dir / "metrics.csv")
    lib = SkillLibrary.load(run_dir)
    skills = lib.shown_skills()
    runs = [skill_motion(lib, z, seed + i, moving) for i, z in enumerate(skills)]
    planar = runs[0]["points"].shape[1] == 1
    labelled = {label: sum(r["label"] == label for r in runs)
             for label in ("forward", "backward", "moving", "standing", "fallen")}
    return {
        "robot": cfg.env, "run": run_dir.name, "skills": len(skills),
        **held_out_accuracy(lib, episodes, seed + 1000),
        "coverage": coverage(np.concatenate([r["points"] for r in runs])),
        "random": random_coverage(cfg.env, len(skills), seed, **baseline_options(cfg.env_kwargs)),
        "forward": labelled["forward"] if planar else None,
        "backward": labelled["backward"] if planar else None,
        "moving": None if planar else labelled["moving"],
        "standing": labelled["standing"],
        "fallen": labelled["fallen"],
        "fastest": max(abs(r["speed"]) for r in runs),
        "hours": float(metrics["wall_time"].iloc[-1]) / 3600,
        "steps": int(metrics["step"].iloc[-1]),
        "media": [f"media/{name}" for name in MEDIA if (run_dir / "media" / name).exists()],
    }


def table(rows: list[dict]) -> str:
    lines = ["| robot | run | steps | skills | held-out accuracy | coverage (x random) | what the skills do "
             "| fastest (m/s) | training time | media (in the run dir) |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in rows:
        if r["forward"] is not None:
            what = f"{r['forward']} forward, {r['backward']} backward"
        else:
            what = f"{r['moving']} moving"
        what += f", {r['standing']} standing, {r['fallen']} fallen"
        accuracy = f"{r['accuracy']:.3f} ({r['accuracy_stochastic']:.3f} sampled" + (
            "; position classifier)" if r["classifier"] == "position" else ")")
        lines.append(f"| {r['robot']} | {r['run']} | {r['steps']} | {r['skills']} | {accuracy} | "
                     f"{r['coverage']} ({r['coverage'] / max(r['random'], 1):.1f}x) | {what} | "
                     f"{r['fastest']:.2f} | {r['hours']:.1f} h | "
                     f"{', '.join(r['media']) or 'not made: run.py visualize --run-dir RUN'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dirs", nargs="+", type=Path)
    p.add_argument("--moving", type=positive, default=0.5, help="m/s that counts as moving")
    p.add_argument("--seed", type=non_negative, default=0)
    p.add_argument("--episodes", type=count, default=5, help="rollouts per skill for the held-out accuracy")
    p.add_argument("--readme", type=Path, default=None)
    p.add_argument("--merge", action="store_true",
                   help="with --readme: keep the table's rows of runs not given (made on another machine)")
    a = p.parse_args()
    if a.episodes < 1:
        p.error("--episodes must be >= 1")
    text = table([robot_row(d, a.moving, a.seed, a.episodes) for d in a.run_dirs])
    print(text)
    if a.readme:
        write_readme(a.readme, "robots", text, merge_on=2 if a.merge else 0)  # robot and run


if __name__ == "__main__":
    main_or_exit(main)
