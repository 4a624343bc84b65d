"""The DIAYN paper's cheetah hurdles (Sec. 4.2.2): a controller over HalfCheetah skills against
flat SAC from scratch on CheetahHurdle-v0 at equal robot steps, hurdles passed per episode.

Skills are pretrained on HalfCheetah-v5 from `--skills-config` (default
configs/discovery/cheetah_metra.json: METRA's 16 skills at 2M steps, whose forward runners
bound over hurdles they never saw; configs/skills_halfcheetah.json's DIAYN skills trip on
them). Before the controllers train it prints what each skill does alone on the hurdles and
what skills chosen uniformly at random pass. Then, per seed, the soft Q-learning controller
from `--config` (default configs/cheetah_hurdles.json: a skill every 10 steps, chosen from the
cheetah's observation, the next hurdle's distance and the skill that ran last) and SAC from
scratch for as many robot steps; with --finetune, also the best skill fine-tuned on the task
(configs/cheetah_hurdles_finetune.json). Target: the hierarchy passes >= 3 hurdles per episode
on average, and more than flat SAC.

    python benchmarks/hurdles.py --out DIR --seeds 0 1 2 3 4 --jobs 2

Runs live in --out (skills, hier-sSEED, flat-sSEED, ft-sSEED) and are kept: a finished run is only read
back and a stopped one resumed, so this long benchmark can be run in pieces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from _common import count, non_negative
from _hierarchy import controller_evaluation, evaluations, pretrain_skills, train_runs

from run import OneLineParser

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
METRIC = "eval/hurdles_passed"


def skills_alone(skills: Path, config: str, episodes: int, seed: int = 1_000_000) -> None:
    """Hurdles passed by each skill run for a whole episode, and by a controller choosing a
    skill uniformly at random every k steps."""
    from agents.loop import evaluate_returns
    from cli.configs import read_file
    from cli.reuse import hierarchy_env
    from envs.registry import make_env
    from skills.library import SkillLibrary

    cfg = read_file(config, "hierarchy")
    lib = SkillLibrary.load(skills)
    env = hierarchy_env(make_env(cfg.task), lib, cfg)
    alone = [evaluate_returns(env, lambda obs, _, z=z: z, 1, seed=seed)[METRIC] for z in range(lib.n_skills)]
    print("hurdles passed by each skill alone (one episode): "
          + " ".join(f"{z}:{h:.0f}" for z, h in enumerate(alone)), flush=True)
    rng = np.random.default_rng(seed)
    r = evaluate_returns(env, lambda obs, _: int(rng.integers(lib.n_skills)), episodes, seed=seed)
    print(f"skills chosen uniformly at random: {r[METRIC]:.2f} hurdles over {episodes} episodes",
          flush=True)


ARMS = (("hierarchy", "hier"), ("flat SAC", "flat"), ("fine-tuned skill", "ft"))


def equal_steps(out: Path, seeds: list[int], arms=ARMS[:2]) -> pd.DataFrame:
    """Hurdles per episode, the mean over seeds, of each arm (name, run-dir prefix: by default
    the controllers and flat SAC) at each robot step where all were evaluated: the target
    compares them at equal steps."""
    means = []
    for name, prefix in arms:
        ev = pd.concat([evaluations(out / f"{prefix}-s{seed}", METRIC) for seed in seeds])
        means.append(ev.groupby("step")[METRIC].mean().rename(name))
    return pd.concat(means, axis=1, join="inner")


def main() -> None:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=non_negative, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--config", default=str(CONFIGS / "cheetah_hurdles.json"),
                   help="the hierarchy's config file (its controller, k, input, budget)")
    p.add_argument("--skills-config", default=str(CONFIGS / "discovery" / "cheetah_metra.json"),
                   help="the skills' pretraining config file")
    p.add_argument("--steps", type=count, default=None,
                   help="robot steps of the hierarchy and of flat SAC (default: the config's)")
    p.add_argument("--pretrain-steps", type=count, default=None,
                   help="robot steps of the skills' pretraining (default: the config's)")
    p.add_argument("--no-flat", action="store_true", help="train the controllers only")
    p.add_argument("--finetune", action="store_true",
                   help="also fine-tune the best skill on the task, as configs/"
                        "cheetah_hurdles_finetune.json says, for as many robot steps")
    p.add_argument("--jobs", type=count, default=1, help="runs trained at once, one process each")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--episodes", type=count, default=10,
                   help="greedy episodes of each trained controller after training, and of the "
                        "random choice before")
    a = p.parse_args()
    from cli.configs import read_file

    steps = a.steps or read_file(a.config, "hierarchy").loop.total_steps
    skills = pretrain_skills(a.out, a.skills_config, a.pretrain_steps, a.threads)
    skills_alone(skills, a.config, a.episodes)
    finetune = str(CONFIGS / "cheetah_hurdles_finetune.json") if a.finetune else None
    train_runs(a.out, skills, a.config, a.seeds, steps, 0 if a.no_flat else steps, a.jobs, a.threads,
               finetune)
    arms = [arm for arm, on in zip(ARMS, (True, not a.no_flat, a.finetune)) if on]
    rows = []
    for seed in a.seeds:
        for name, prefix in arms:
            d = a.out / f"{prefix}-s{seed}"
            ev = evaluations(d, METRIC)
            rows.append((f"{name}, last evaluation", seed, ev[METRIC].iloc[-1]))
            curve = " ".join(f"{h:.1f}" for h in ev[METRIC])
            print(f"seed {seed} {name:9s}: hurdles passed, from step 0 to {ev['step'].iloc[-1]}: {curve}",
                  flush=True)
        h = controller_evaluation(a.out / f"hier-s{seed}", a.episodes)[METRIC]
        rows.append((f"hierarchy, final controller over {a.episodes} episodes", seed, h))
    df = pd.DataFrame(rows, columns=["method", "seed", "hurdles"])
    for name, g in df.groupby("method", sort=False):
        print(f"{name}: {g['hurdles'].mean():.2f} +- {g['hurdles'].std():.2f} hurdles per episode over "
              f"{len(g)} seeds (target for the hierarchy: >= 3 and more than flat SAC)")
    if len(arms) > 1:
        print(f"at equal robot steps, the mean over seeds {' '.join(map(str, a.seeds))}:")
        print(equal_steps(a.out, a.seeds, arms).round(2).to_string())


if __name__ == "__main__":
    main()
