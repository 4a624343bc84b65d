"""A run's media and report (`run.py visualize`) and a comparison of runs (`run.py analyze`).

Reads run directories only; never trains. Skill runs get a video per skill, a grid video, the
skill trajectories, the coverage map and the discriminator's confusion matrix on fresh rollouts;
every run gets its learning curves and a video of its policy (a hierarchy's: of its controller
choosing skills).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from agents.checkpoint import CheckpointError
from agents.rundir import RunDirError, make_dir
from analysis import plots
from analysis.runs import load_run, load_runs, metrics_of, require_metric
from analysis.stats import final_table

# The curves worth a plot, when the run has them.
CURVES = ("eval/return", "eval/disc_accuracy", "eval/coverage", "eval/log_q_z", "train/alpha",
          "train/entropy", "train/critic_loss", "skill/disc_loss", "skill/intrinsic_reward",
          "eval/hurdles_passed", "eval/furthest_x")


def _require_checkpoint(run_dir: Path) -> None:
    if not (run_dir / "checkpoints" / "latest.pt").is_file():
        raise CheckpointError(f"{run_dir} has no checkpoint to visualize: train it first "
                              "(or let it reach its first checkpoint)")


def visualize(run_dir: str | Path, steps: int | None = None, size: int = 240, gif: bool = False,
              seed: int = 0, progress: bool = True) -> Path:
    """Write `run_dir/media/` and `run_dir/report.md`; returns the report's path. Where the env
    cannot be rendered here, the plots and report are written without videos, and one line on
    stderr says why."""
    from cli.configs import read_run

    run_dir = Path(run_dir)
    config = read_run(run_dir)
    _require_checkpoint(run_dir)
    no_video = why_no_video(config.env_name)
    if no_video:
        print(f"no videos: {no_video}", file=sys.stderr)
    media = run_dir / "media"
    media.mkdir(exist_ok=True)
    sections: list[str] = []
    if config.command == "pretrain":
        sections += _skill_media(run_dir, media, steps, size, gif, seed, no_video, progress)
    elif no_video:
        sections.append(f"## Policy\n\nNo video: {no_video}")
    elif config.command == "hierarchy":
        sections += _controller_media(run_dir, config, media, steps, size, gif, seed)
    else:
        sections += _policy_media(run_dir, config, media, steps, size, gif, seed)
    sections += _curves(run_dir, media)
    report = run_dir / "report.md"
    report.write_text(_report(run_dir, config, sections))
    return report


def why_no_video(env_name: str) -> str | None:
    """Why `env_name` cannot be filmed here (no headless GL, or not a MuJoCo env); None if it can."""
    from analysis.video import RenderingUnavailable, check_rendering
    from envs.registry import make_env

    env = make_env(env_name)
    mujoco_env = hasattr(env.unwrapped, "mujoco_renderer")
    env.close()
    if not mujoco_env:
        return f"{env_name} is not a MuJoCo env, and videos are rendered by MuJoCo"
    try:
        check_rendering()
    except RenderingUnavailable as e:
        return str(e)
    return None


def _skill_media(run_dir: Path, media: Path, steps, size, gif, seed, no_video: str | None,
                 progress: bool) -> list[str]:
    from analysis.video import skill_videos
    from skills.evaluate import skill_label
    from skills.library import SkillLibrary
    from skills.metrics import confusion_matrix, per_skill_table

    lib = SkillLibrary.load(run_dir)
    env = lib.make_env()
    skills = lib.shown_skills()
    rollouts = [lib.rollout(z, steps=steps, env=env, seed=seed + i)
                for i, z in enumerate(tqdm(skills, desc="skill rollouts", leave=False,
                                           disable=not progress))]
    out = []
    if no_video:
        out.append(f"## Skills\n\nNo videos: {no_video}")
    else:
        paths, grid = skill_videos(lib, media, steps=steps, size=size, seed=seed,
                                   fmt="gif" if gif else "mp4")
        out.append(f"## Skills\n\nAll {len(skills)} skills: [{grid.name}](media/{grid.name}); one "
                   "per skill: " + ", ".join(f"[{skill_label(z)}](media/{p.name})"
                                             for z, p in zip(skills, paths)))
    positions = [r.positions for r in rollouts]
    if positions[0].shape[1] > 0:
        plots.skill_trajectories(positions, media / "trajectories.png",
                                 title=f"{lib.env_name}: {len(skills)} skills",
                                 labels=[skill_label(z) for z in skills])
        out.append("![trajectories](media/trajectories.png)")
    if positions[0].shape[1] == 2:
        plots.coverage_map(np.concatenate(positions), media / "coverage.png")
        out.append("![coverage](media/coverage.png)")
    if lib.method.predict is not None:  # METRA and LSD have no classifier of skills
        true_z = np.concatenate([np.full(len(r.predicted), r.skill) for r in rollouts])
        pred_z = np.concatenate([r.predicted for r in rollouts])
        plots.confusion_matrix_plot(confusion_matrix(true_z, pred_z, lib.n_skills),
                                    media / "confusion.png", title="q(z|s) on fresh rollouts")
        out.append("![confusion matrix](media/confusion.png)")
    table = pd.DataFrame(per_skill_table(rollouts)).round(3)
    table.to_csv(media / "skills.csv", index=False)
    out.append("### Per skill (fresh deterministic rollouts)\n\n" + markdown_table(table))
    return out


def _policy_media(run_dir: Path, config, media: Path, steps, size, gif, seed) -> list[str]:
    from analysis.policies import load_policy
    from analysis.video import policy_video

    env, policy = load_policy(run_dir, config, render_size=size)
    path = policy_video(env, policy, media / f"policy.{'gif' if gif else 'mp4'}", steps=steps, seed=seed)
    env.close()
    return [f"## Policy\n\nDeterministic policy: [{path.name}](media/{path.name})"]


def _controller_media(run_dir: Path, config, media: Path, steps, size, gif, seed) -> list[str]:
    from collections import Counter

    from analysis.policies import load_controller
    from analysis.video import Filmed, controller_video, video_env
    from envs.registry import make_env
    from skills.evaluate import skill_label

    filmed = Filmed(video_env(lambda **kw: make_env(config.env_name, **kw), size))
    env, controller = load_controller(run_dir, config, filmed)
    video = media / f"controller.{'gif' if gif else 'mp4'}"
    path, choices, summary = controller_video(env, controller, video, steps=steps, seed=seed)
    env.close()
    did = "; ".join(f"{k} {v:.4g}" for k, v in summary.items())
    chosen = ", ".join(f"{skill_label(z)} {n}x" for z, n in sorted(Counter(choices).items()))
    k_steps = config.steps_per_skill
    every = (f"a skill every {k_steps} robot steps" if config.durations == (1,) else "a skill for "
             + " or ".join(str(d * k_steps) for d in config.durations) + " robot steps at each choice")
    return [f"## Controller\n\nOne episode of the greedy controller, {every}, "
            f"each frame labelled with the skill running: "
            f"[{path.name}](media/{path.name})\n\n{did}\n\nSkills chosen: {chosen}"]


def _curves(run_dir: Path, media: Path) -> list[str]:
    df = load_runs([run_dir])
    out = ["## Learning curves"]
    for metric in CURVES:
        if metric in set(df["metric"]):
            name = metric.replace("/", "_") + ".png"
            plots.learning_curves(df, metric, media / name)
            out.append(f"![{metric}](media/{name})")
    return out


def markdown_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _report(run_dir: Path, config, sections: list[str]) -> str:
    from cli.configs import to_json

    wide = load_run(run_dir)
    final = {c: wide[c].dropna().iloc[-1] for c in wide.columns if wide[c].notna().any()}
    rows = "\n".join(f"| {k} | {v:.4g} |" for k, v in final.items())
    return "\n\n".join([
        f"# {run_dir.name}: {config.command} on {config.env_name} (seed {config.seed})",
        "## Final metrics\n\n| metric | last value |\n|---|---|\n" + rows,
        *sections,
        "## Config\n\n```json\n" + json.dumps(to_json(config), indent=2) + "\n```",
    ]) + "\n"


def analyze(dirs: list[str | Path], out: str | Path, metrics: list[str] | None = None,
            rank: str | None = None) -> Path:
    """Learning curves (mean and 95% CI over seeds) per algorithm and env for each metric, and a
    markdown table of final values; returns the path of `out/analysis.md`.

    Trials of a sweep (`run.py sweep`) are grouped by their grid point instead, those that
    failed are left out (and listed), and the groups are ranked by the final value of `rank`
    (default: the first metric), highest first."""
    from cli.sweep import sweep_labels, trial_status

    for d in dirs:
        if not Path(d).is_dir():
            raise RunDirError(f"{d} is not a directory")
    with warnings.catch_warnings(record=True) as skipped:
        warnings.simplefilter("always")
        df = load_runs(dirs)
    if df.empty:  # the error says it all; the skipped dirs' warnings would only repeat it
        raise RunDirError(f"no runs found in {', '.join(map(str, dirs))}")
    for w in skipped:
        warnings.warn(w.message, w.category, stacklevel=2)
    out = Path(out)
    make_dir(out, "the analysis to", "--out")
    labels = {name: label for d in dirs for name, label in sweep_labels(d).items()}
    failed = sorted(r for r in df["run"].unique() if r in labels and any(
        (trial_status(Path(d) / r) or {}).get("status") == "failed" for d in dirs))
    df = df[~df["run"].isin(failed)]
    if df.empty:
        raise RunDirError(f"every trial in {', '.join(map(str, dirs))} failed (see its sweep.md)")
    plain = df["algorithm"] + " / " + df["env"]
    df = df.assign(group=[labels.get(r, p) for r, p in zip(df["run"], plain)])
    chosen = metrics or [m for m in CURVES if m in set(metrics_of(df))]
    lines = [f"# Analysis of {df['run'].nunique()} runs", ""]
    if failed:
        lines += [f"Left out, failed: {', '.join(failed)}", ""]
    if rank or labels:
        lines += _ranking(df, rank or chosen[0])
    for metric in chosen:
        require_metric(df, metric)
        name = metric.replace("/", "_") + ".png"
        plots.learning_curves(df, metric, out / name, group="group")
        lines += [f"## {metric}", f"![{metric}]({name})", "",
                  final_table(df, metric, group="group"), ""]
    report = out / "analysis.md"
    report.write_text("\n".join(lines))
    return report


def _ranking(df: pd.DataFrame, metric: str) -> list[str]:
    """The groups by the mean of their runs' final `metric`, highest first."""
    from analysis.stats import final_stats, steps_shown

    stats = final_stats(df, metric, group="group").sort_values("mean", ascending=False)
    lines = [f"## Ranked by final {metric}", "", "| rank | group | mean | 95% CI | n | at step |",
             "|---:|---|---:|---:|---:|---:|"]
    for i, r in enumerate(stats.itertuples(index=False), start=1):
        lines.append(f"| {i} | {r.group} | {r.mean:.4g} | [{r.lo:.4g}, {r.hi:.4g}] | {r.n} | "
                     f"{steps_shown(r.step_min, r.step_max)} |")
    return lines + [""]
