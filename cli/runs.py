"""What every training command shares: a config resolved from defaults, a file, flags or a
saved run, checked whole; and env, agent and skill plug-in built from it for the one loop."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.config import ConfigError
from agents.rundir import RunDirError
from cli.configs import to_json

# What a resumed run may change: its length, and the machine it runs on. Everything else would
# make the rest of the run another experiment than the one its config.json describes.
CHANGEABLE_ON_RESUME = (("loop", "total_steps"), ("threads",), ("device",), ("loop", "progress"))


def differences(a: Any, b: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any, Any]]:
    """(path, a's value, b's value) of every field where configs `a` and `b` differ."""
    if type(a) is not type(b) or not dataclasses.is_dataclass(a):
        return [] if a == b else [(prefix, a, b)]
    out = []
    for f in dataclasses.fields(a):
        out += differences(getattr(a, f.name), getattr(b, f.name), (*prefix, f.name))
    return out


def check_resume(saved: Any, cfg: Any, name_of: Callable[[tuple[str, ...]], str] | None = None) -> None:
    """ConfigError naming the first field where `cfg` changes `saved` beyond what a resumed run
    may change (CHANGEABLE_ON_RESUME)."""
    for path, old, new in differences(saved, cfg):
        if path not in CHANGEABLE_ON_RESUME:
            name = name_of(path) if name_of else ".".join(path)
            raise ConfigError(f"{name} {_show(new)} differs from the run's {_show(old)}; a resumed "
                              "run may change only --total-steps, --threads, --device and "
                              "--no-progress (start a new run with --config RUN/config.json for more)")


def _show(v: Any) -> str:
    return " ".join(map(str, v)) if isinstance(v, tuple) else str(v)


def run_training(cfg: Any, run_dir: str | Path, resume: bool = False, *,
                 make_plugin: Callable | None = None, init_agent: Callable | None = None,
                 wrap_env: Callable | None = None, make_agent: Callable | None = None) -> dict[str, float]:
    """Build env, agent and (optionally) a skill plug-in from `cfg`, run the one loop in
    `run_dir`, and return the last evaluation's metrics.

    `make_plugin(env, eval_env)` returns (plugin, evaluate or None) for skill methods;
    `init_agent(agent)` sets a new agent's weights (fine-tuning starts from pretrained ones);
    `wrap_env(env)` wraps train and eval envs (the hierarchy's SkillEnv);
    `make_agent(obs_dim, action_space)` replaces the agent `cfg.agent_config` names (the
    hierarchy's discrete agent)."""
    from agents.rundir import hold_run_dir

    with hold_run_dir(run_dir):
        if resume:
            from cli.configs import read_run

            check_resume(read_run(run_dir, cfg.command), cfg)
        else:
            ckpt = Path(run_dir) / "checkpoints"
            if ckpt.exists() and any(ckpt.iterdir()):
                raise RunDirError(f"{run_dir} already holds a run: pass --resume to continue it, "
                                  "or choose another --run-dir")
        return _run(cfg, Path(run_dir), resume, make_plugin, init_agent, wrap_env, make_agent)


def _run(cfg, run_dir: Path, resume: bool, make_plugin, init_agent, wrap_env, make_agent) -> dict:
    from agents.loop import OffPolicyLoop, evaluate_returns
    from agents.rundir import read_config_dict, write_config
    from envs.registry import make_env

    setup_torch(cfg)
    env = make_env(cfg.env_name, seed=cfg.seed, **cfg.env_kwargs)
    eval_env = make_env(cfg.env_name, seed=cfg.seed + 10_000, **cfg.env_kwargs)
    if wrap_env is not None:
        env, eval_env = wrap_env(env), wrap_env(eval_env)
    plugin, evaluate = make_plugin(env, eval_env) if make_plugin is not None else (None, None)
    if evaluate is None:
        def evaluate(policy):
            return evaluate_returns(eval_env, policy, cfg.loop.eval_episodes)
    obs_dim = env.observation_space.shape[0] + (plugin.skill_dim if plugin else 0)
    agent = (make_agent or _agent(cfg))(obs_dim, env.action_space)
    if init_agent is not None:
        init_agent(agent)
    saved = read_config_dict(run_dir) if resume else None
    write_config(run_dir, to_json(cfg))
    loop = OffPolicyLoop(cfg.loop, env, agent, evaluate, run_dir, plugin=plugin)
    final = loop.run(resume=resume)
    if resume and not final:  # the checkpoint was already at (or past) the budget
        # Nothing was trained, so the run keeps the config that describes it: a smaller
        # --total-steps than its step would otherwise become the budget it claims to have.
        write_config(run_dir, saved)
        print(f"nothing to train: {run_dir} is at step {loop.step} of --total-steps "
              f"{cfg.loop.total_steps}; pass a larger --total-steps to train on")
        return final
    shown = ", ".join(f"{k} {v:.3g}" for k, v in final.items()
                      if k in ("eval/return", "eval/disc_accuracy", "eval/coverage"))
    print(f"done: {loop.step} steps; {shown}; run dir {run_dir}")
    return final


def _agent(cfg) -> Callable:
    def make(obs_dim: int, action_space):
        from agents.memory import check_fits
        from agents.registry import build_agent

        # The first layers of actor, twin critics and their targets (5 copies), with the
        # gradients and Adam's two moments of the trained 3: 14 float32 copies.
        check_fits(56 * obs_dim * cfg.agent_config.hidden[0], f"networks over a {obs_dim}-entry input",
                   "use fewer --skills or smaller --hidden")
        return build_agent(cfg.agent_config, obs_dim, action_space, device=cfg.device)
    return make


def setup_torch(cfg) -> None:
    import torch

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    # Before the networks are built: their initial weights are part of the seeded run, and must
    # not depend on what the process ran before (benchmarks and tests run several in one).
    torch.manual_seed(cfg.seed)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {cfg.device} asked for, but torch sees no CUDA device")
