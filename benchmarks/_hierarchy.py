"""Shared by the robot hierarchy benchmarks (hierarchy_ant.py, hurdles.py): pretrain one skill
set, then per seed a controller over it and flat SAC from scratch on the same task, each run
one process and one core, kept in --out so that a long benchmark runs in pieces."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
from _common import finished, metrics, run


def ensure(run_dir: Path, steps: int, args: list[str], threads: int) -> None:
    """Run `args` into run_dir, resume it if it stopped early, skip it if it is done."""
    common = ["--run-dir", str(run_dir), "--no-progress", "--threads", str(threads)]
    if finished(run_dir, steps):
        return
    if (run_dir / "config.json").exists():
        run([args[0], "--resume", "--total-steps", str(steps), *common])
    else:
        run([*args, "--total-steps", str(steps), *common])


def pretrain_skills(out: Path, skills_config: str, steps: int | None, threads: int) -> Path:
    """The skill set of the benchmark, out/skills, from its pretraining config file."""
    from cli.configs import read_file

    skills = out / "skills"
    steps = steps or read_file(skills_config, "pretrain").loop.total_steps
    ensure(skills, steps, ["pretrain", "--config", skills_config, "--no-visualize"], threads)
    return skills


def train_runs(out: Path, skills: Path, config: str, seeds: list[int], steps: int,
               flat_steps: int, jobs: int, threads: int, finetune_config: str | None = None) -> None:
    """Per seed, out/hier-sSEED (the controller of `config` over `skills`), unless flat_steps is 0
    out/flat-sSEED (SAC from scratch on the config's task, evaluated 10 times), and given a
    `finetune_config`, out/ft-sSEED (the best of `skills` fine-tuned as it says, for `steps`)."""
    from cli.configs import read_file

    task = read_file(config, "hierarchy").task
    runs = [(out / f"hier-s{seed}", steps,
             ["hierarchy", "--config", config, "--skills-from", str(skills), "--seed", str(seed)],
             threads) for seed in seeds]
    if flat_steps > 0:
        runs += [(out / f"flat-s{seed}", flat_steps,
                  ["train", "--env", task, "--eval-every", str(max(flat_steps // 10, 1)),
                   "--seed", str(seed)], threads) for seed in seeds]
    if finetune_config:
        runs += [(out / f"ft-s{seed}", steps,
                  ["finetune", "--config", finetune_config, "--skills-from", str(skills),
                   "--seed", str(seed)], threads) for seed in seeds]
    # One process per run, `jobs` at a time: each run is one core's work, and the seeds are
    # independent (spawned, not forked: the parent has already run torch).
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(ensure, *zip(*runs)))


def evaluations(run_dir: Path, metric: str) -> pd.DataFrame:
    """The run's evaluation rows (step and `metric`)."""
    return metrics(run_dir).dropna(subset=[metric])[["step", metric]]


def controller_evaluation(hier: Path, episodes: int, seed: int = 2_000_000) -> dict[str, float]:
    """The trained controller of run `hier`, greedy, over `episodes` episodes: the run's own
    evaluations have a few episodes each and swing between two."""
    from agents.loop import evaluate_returns
    from analysis.policies import load_controller
    from cli.configs import read_run

    env, controller = load_controller(hier, read_run(hier, "hierarchy"))
    return evaluate_returns(env, lambda obs, _: controller(obs), episodes, seed=seed)
