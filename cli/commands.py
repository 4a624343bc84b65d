"""run.py's commands: train and pretrain (the one loop), visualize and analyze (reading runs)."""

from __future__ import annotations

import argparse

from cli.runs import build_and_run, resolve_config


def cmd_train(args: argparse.Namespace) -> None:
    build_and_run(args, resolve_config(args))


def cmd_pretrain(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from agents.rundir import ConfigError, config_from_dict
    from skills.diayn import DIAYN, DIAYNConfig
    from skills.evaluate import skill_evaluator

    if args.skill_steps < 0:
        raise ConfigError(f"--skill-steps must be 0 (one skill per episode) or positive (got "
                          f"{args.skill_steps})")
    if args.skills is not None and args.skills < 2:
        raise ConfigError(f"--skills must be at least 2 (got {args.skills}): one skill has nothing "
                          "to be told apart from")
    diayn = DIAYNConfig(n_skills=args.skills or 8, feature=args.feature,
                        hidden=tuple(args.disc_hidden), reward_scale=args.reward_scale,
                        skill_steps=args.skill_steps)
    cfg = resolve_config(args, extra={"diayn": asdict(diayn)})
    diayn = config_from_dict(DIAYNConfig, cfg.extra["diayn"])

    def make_plugin(env, eval_env):
        from envs.registry import UnknownFeatureError, state_feature

        try:
            feature_fn = state_feature(env, diayn.feature)
        except UnknownFeatureError as e:
            raise ConfigError(str(e)) from None
        feature_dim = env.observation_space.shape[0] if feature_fn is None else feature_fn().size
        plugin = DIAYN(feature_dim, diayn, device=cfg.device)
        evaluate = skill_evaluator(eval_env, plugin, diayn.feature,
                                   episodes=cfg.loop.get("eval_episodes", 1))
        return plugin, feature_fn, evaluate

    build_and_run(args, cfg, make_plugin)
    if not args.no_visualize:
        from analysis.report import visualize

        report = visualize(args.run_dir)
        print(f"report: {report}\nmedia:  {report.parent / 'media'}")


def cmd_visualize(args: argparse.Namespace) -> None:
    from analysis.report import visualize

    report = visualize(args.run_dir, steps=args.steps, size=args.size, gif=args.gif, seed=args.seed)
    print(f"report: {report}\nmedia:  {report.parent / 'media'}")


def cmd_analyze(args: argparse.Namespace) -> None:
    from analysis.report import analyze

    report = analyze(args.run_dirs, args.out, args.metric)
    print(f"analysis: {report}")


