"""The training commands as functions of their configs (the CLI calls these; so can a notebook),
and visualize and analyze, which read runs."""

from __future__ import annotations

from pathlib import Path

from cli.configs import PretrainConfig, TrainConfig
from cli.runs import run_training


def train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False) -> dict[str, float]:
    """SAC from scratch on `cfg.env`'s reward; returns the last evaluation's metrics."""
    return run_training(cfg, run_dir, resume)


def pretrain(cfg: PretrainConfig, run_dir: str | Path, resume: bool = False) -> dict[str, float]:
    """Skills without reward: `cfg.skills`'s method relabels every batch for SAC."""
    from skills.evaluate import skill_evaluator
    from skills.registry import build_method, policy_env

    def make_plugin(env, eval_env):
        method = build_method(cfg.skills, env, device=cfg.device)
        return method, skill_evaluator(eval_env, method, episodes=cfg.loop.eval_episodes)

    return run_training(cfg, run_dir, resume, make_plugin=make_plugin,
                        wrap_env=lambda env: policy_env(cfg.skills, env))


def visualize(run_dir: str | Path, steps: int | None = None, size: int = 240, gif: bool = False,
              seed: int = 0, progress: bool = True) -> Path:
    """videos, plots and report.md of a run; returns the report's path."""
    from analysis.report import visualize as _visualize

    report = _visualize(run_dir, steps=steps, size=size, gif=gif, seed=seed, progress=progress)
    print(f"report: {report}\nmedia:  {report.parent / 'media'}")
    return report


def analyze(run_dirs: list[str], out: str, metrics: list[str] | None = None,
            rank: str | None = None) -> Path:
    """Learning curves and final values over seeds, per algorithm and env (a sweep's trials per
    grid point, ranked by `rank`); returns the path of out/analysis.md."""
    from analysis.report import analyze as _analyze

    report = _analyze(run_dirs, out, metrics, rank=rank)
    print(f"analysis: {report}")
    return report
