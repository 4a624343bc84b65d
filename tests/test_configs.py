"""Runs as typed data: config round trips, files written before the schema had a version,
--config, what --resume may change, one-line errors for bad input, the NaN guard."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from agents.checkpoint import load_checkpoint
from agents.config import ConfigError
from agents.discrete import DiscreteConfig
from agents.loop import LoopConfig
from agents.sac import SACConfig
from agents.sql import SQLConfig
from agents.td3 import TD3Config
from cli.configs import (
    COMMANDS,
    FinetuneConfig,
    HierarchyConfig,
    PretrainConfig,
    TrainConfig,
    from_json,
    read_file,
    read_run,
    to_json,
)
from run import build_parser, main, resolve
from skills.diayn import DIAYNConfig

FIXTURES = Path(__file__).parent / "fixtures" / "v0"
TINY = ["--env", "Pendulum-v1", "--learning-starts", "100", "--hidden", "16", "16", "--batch-size",
        "16", "--eval-episodes", "1", "--eval-every", "200", "--log-every", "50",
        "--checkpoint-every", "100", "--no-progress", "--threads", "1"]

NON_DEFAULT = [
    TrainConfig(env="Pendulum-v1", threads=1, loop=LoopConfig(total_steps=7, eval_every=3, seed=4),
                agent=SACConfig(hidden=(3, 5), alpha=0.2, target_entropy=-1.5)),
    TrainConfig(agent=TD3Config(soft=True, n_critics=1, policy_delay=3)),
    PretrainConfig(env="Ant-v5", skills=DIAYNConfig(n_skills=5, feature="com_vxy", hidden=(9,),
                                                    skill_steps=100)),
    FinetuneConfig(skills_from="runs/a", task="PointMassGoal-v0", scratch=True, skill=3),
    HierarchyConfig(skills_from="runs/a", task="AntWaypoints-v0", controller_obs="task+pose",
                    last_skill_obs=True, skill_rotations=4,
                    agent=DiscreteConfig(gamma=0.999, greedy_on_target=True, alpha=None)),
]


@pytest.mark.parametrize("cfg", [c() for c in COMMANDS.values()] + NON_DEFAULT,
                         ids=lambda c: type(c).__name__)
def test_config_round_trips_exactly_through_json(cfg):
    data = json.loads(json.dumps(to_json(cfg)))
    assert data["version"] == 2 and data["command"] == cfg.command
    assert from_json(data) == cfg


@pytest.mark.parametrize("command", ["train", "pretrain", "finetune", "hierarchy"])
def test_a_run_dir_written_before_the_schema_still_resumes(tmp_path, command, capsys):
    """tests/fixtures/v0 holds runs written by the code before config.json had a version (an
    untyped `extra` block): each reads back as the same settings and resumes."""
    for name in ("pretrain", command):  # skill reuse needs its skills beside it
        shutil.copytree(FIXTURES / name, tmp_path / name, dirs_exist_ok=True)
    old = json.loads((tmp_path / command / "config.json").read_text())
    if "skills_from" in old["extra"]:
        old["extra"]["skills_from"] = str(tmp_path / "pretrain")
        (tmp_path / command / "config.json").write_text(json.dumps(old))
    cfg = read_run(tmp_path / command, command)
    assert cfg.loop.total_steps == old["loop"]["total_steps"] and cfg.seed == old["seed"]
    if command == "pretrain":
        assert cfg.skills == DIAYNConfig(n_skills=3, feature="xy", hidden=(16,), skill_steps=50,
                                        observe_feature=False)
    if command == "finetune":
        assert cfg.sac.alpha == 0.2 and cfg.skill == old["extra"]["skill"] and not cfg.scratch
    if command == "hierarchy":
        # version 0 stored the controller's discount per choice (0.9^5); now it is per robot step
        assert cfg.agent.gamma == pytest.approx(0.9) and cfg.last_skill_obs
        assert cfg.agent.greedy_on_target and cfg.steps_per_skill == 5
    total = old["loop"]["total_steps"] + 50
    if command == "hierarchy":
        # its buffer holds undiscounted rewards per choice: it cannot resume under the semi-MDP
        # target, and says how to start again from its settings
        assert main([command, "--resume", "--run-dir", str(tmp_path / command)]) == 2
        assert "cannot resume; start a new run with --config" in capsys.readouterr().err
        argv = ["--config", str(tmp_path / command / "config.json"), "--total-steps", str(total)]
        assert main([command, *argv, "--run-dir", str(tmp_path / "new"), "--no-progress"]) == 0
        assert read_run(tmp_path / "new") == replace(cfg, loop=replace(cfg.loop, total_steps=total))
        return
    assert main([command, "--resume", "--run-dir", str(tmp_path / command), "--total-steps", str(total),
                 "--no-progress", *(["--no-visualize"] if command == "pretrain" else [])]) == 0
    steps = pd.read_csv(tmp_path / command / "metrics.csv")["step"].tolist()
    assert steps[-1] == total and len(steps) == len(set(steps))
    assert read_run(tmp_path / command) == replace(cfg, loop=replace(cfg.loop, total_steps=total))


def _config(*argv: str):
    return resolve(build_parser().parse_args(argv))[0]


def test_whole_numbers_may_be_written_as_1e6(tmp_path, capsys):
    """Step counts are commonly written 1e6: a flag, a list flag and a config file take any
    integral number where an int is due, as the int it is."""
    cfg = _config("train", "--total-steps", "1e5", "--hidden", "6.4e1", "32", "--seed", "3")
    assert cfg.loop.total_steps == 100_000 and cfg.agent.hidden == (64, 32) and cfg.loop.seed == 3
    assert all(type(v) is int for v in (cfg.loop.total_steps, *cfg.agent.hidden))
    path = tmp_path / "c.json"
    path.write_text('{"loop": {"total_steps": 2e3, "eval_every": 500.0}}')
    loop = read_file(path, "train").loop
    assert (loop.total_steps, loop.eval_every) == (2000, 500) and type(loop.total_steps) is int
    # written back as the int, so the run's own config.json reads as it did
    assert to_json(read_file(path, "train"))["loop"]["total_steps"] == 2000
    for text in ("2.5e0", "inf", "nan", "many"):  # no whole number: argparse's one line, exit 2
        with pytest.raises(SystemExit) as e:
            main(["train", "--total-steps", text, "--run-dir", str(tmp_path / "run")])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and err.splitlines() == [
            f"run.py train: error: argument --total-steps: invalid int value: '{text}' (see --help)"]


def test_config_file_reproduces_a_run_with_one_field_changed(pointmass_skills, tmp_path):
    a = read_run(pointmass_skills)
    b = _config("pretrain", "--config", str(pointmass_skills / "config.json"), "--seed", "1",
                "--run-dir", str(tmp_path))
    diff = {k for k, v in to_json(b)["loop"].items() if to_json(a)["loop"][k] != v}
    assert diff == {"seed"} and b == replace(a, loop=replace(a.loop, seed=1))
    # a partial file keeps the command's defaults for the rest, and flags still override it
    partial = tmp_path / "p.json"
    partial.write_text(json.dumps({"skills": {"n_skills": 5}, "sac": {"gamma": 0.9}}))
    c = _config("pretrain", "--config", str(partial), "--skills", "6")
    assert c == replace(PretrainConfig(), skills=DIAYNConfig(n_skills=6),
                        sac=replace(PretrainConfig().sac, gamma=0.9))


def test_flags_are_the_fields_with_their_docstrings():
    """The CLI is derived: every field (but an experiment's knob) is a flag whose help is the
    field's docstring, and whose default is the dataclass's."""
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["pretrain"]
                         .format_help().split())
    assert "K, the number of skills of the uniform prior p(z) (default: 8)" in help_text
    assert "--total-steps" in help_text and "(default: 25000)" in help_text
    assert "--disc-hidden" in help_text and "--lr" in help_text
    hier = build_parser()._subparsers._group_actions[0].choices["hierarchy"].format_help()
    assert "--controller-obs" not in hier and "--steps-per-skill" in hier
    assert _config("train", "--lr", "0.01").agent == SACConfig(actor_lr=0.01, critic_lr=0.01, alpha_lr=0.01)
    # --algo picks the agent's config, a variant sets what makes it one, flags still apply
    ddpg = _config("train", "--algo", "ddpg", "--tau", "0.01").agent
    assert ddpg == TD3Config(n_critics=1, policy_delay=1, target_noise=0.0, tau=0.01)
    assert _config("train", "--algo", "soft-td3").agent == TD3Config(soft=True)
    # a group flag sets the fields of whichever agent runs; a field the agent lacks is an error
    assert _config("train", "--algo", "sql", "--lr", "0.01").agent == SQLConfig(q_lr=0.01, policy_lr=0.01)
    with pytest.raises(ConfigError, match="--q-lr is not an option of the agent config SACConfig"):
        _config("train", "--q-lr", "0.01")


def test_resume_refuses_a_changed_setting_and_takes_a_longer_budget(tmp_path, capsys):
    assert main(["train", "--total-steps", "150", "--run-dir", str(tmp_path), *TINY]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--run-dir", str(tmp_path), "--lr", "0.001"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--lr 0.001 differs from the run's 0.0003" in err, err
    assert main(["train", "--resume", "--run-dir", str(tmp_path), "--env", "HalfCheetah-v5"]) == 2
    assert "--env HalfCheetah-v5 differs from the run's Pendulum-v1" in capsys.readouterr().err
    assert main(["train", "--resume", "--run-dir", str(tmp_path), "--total-steps", "250",
                 "--threads", "2", "--no-progress"]) == 0
    assert pd.read_csv(tmp_path / "metrics.csv")["step"].iloc[-1] == 250
    # The Python API applies the same rule.
    from cli import train

    with pytest.raises(ConfigError, match="loop.seed 5 differs"):
        cfg = read_run(tmp_path)
        train(replace(cfg, loop=replace(cfg.loop, seed=5)), tmp_path, resume=True)


BAD_INPUT = [
    (["train", "--total-steps", "-5"], "--total-steps must be > 0"),
    (["train", "--total-steps", "0"], "--total-steps must be > 0"),
    (["pretrain", "--env", "CartPole-v1"], "SAC needs a continuous (Box) action space"),
    (["train", "--batch-size", "0"], "--batch-size must be > 0"),
    (["train", "--hidden", "0"], "--hidden must be 1 or more layer sizes, each > 0"),
    (["train", "--lr", "-1"], "--lr must be > 0"),
    (["pretrain", "--skills", "1000000"], "GiB available"),
    (["train", "--gamma", "2"], "--gamma must be in [0, 1)"),
    (["train", "--tau", "0"], "--tau must be in (0, 1]"),
    (["train", "--threads", "-3"], "--threads must be >= 0"),
    (["train", "--eval-every", "0"], "--eval-every must be > 0"),
    (["train", "--log-every", "0"], "--log-every must be > 0"),
    (["train", "--checkpoint-every", "0"], "--checkpoint-every must be > 0"),
    (["train", "--seed", "-1"], "--seed must be >= 0"),
    (["train", "--device", "gpu0"], "--device is not a torch device"),
    (["pretrain", "--skills", "1"], "--skills must be at least 2"),
    (["hierarchy", "--task", "PointMassGoal-v0", "--steps-per-skill", "0"], "--steps-per-skill must be > 0"),
    (["finetune", "--task", "PointMassGoal-v0"], "needs --skills-from and --task"),
    (["train", "--config", "/nonexistent/c.json"], "cannot read config file"),
    (["train", "--soft"], "--soft is not an option of the agent config SACConfig"),
    (["train", "--algo", "td3", "--env", "CartPole-v1"], "TD3 needs a continuous (Box) action space"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUT, ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code = main([*argv, "--run-dir", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err, err


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ('{"loop": {"total_stepz": 5}}', "unknown field 'loop.total_stepz'; valid fields there: total_steps"),
    ('{"loop": {"total_steps": "many"}}', "loop.total_steps must be int, got 'many'"),
    ('{"loop": {"total_steps": 1000.5}}', "loop.total_steps must be int, got 1000.5"),
    ('{"loop": {"total_steps": true}}', "loop.total_steps must be int, got True"),
    ('{"command": "pretrain"}', "is a 'pretrain' config, not a 'train' one"),
    ('{"agent": {"gamma": 1.5}}', "gamma must be in [0, 1)"),
    ('{"loop": {"hold_prob": 1.0}}', "hold_prob must be in [0, 1) (got 1.0)"),
    ('{"agent": {"algo": "ppo"}}', "unknown algorithm 'ppo'; valid: sac, td3"),
])
def test_bad_config_file_is_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "c.json"
    path.write_text(content)
    assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.parametrize("content, message", [
    ('{"task": "PointMassGoal-v0", "agent": {"stay_prior": 0.9}}',
     "agent.stay_prior reads the previous skill from the controller's observation: set last_skill_obs true"),
    ('{"task": "PointMassGoal-v0", "last_skill_obs": true, "agent": {"stay_prior": 1.0}}',
     "stay_prior must be in [0, 1)"),
    ('{"task": "PointMassGoal-v0", "durations": [1, 0]}',
     "durations must be distinct whole numbers of k robot steps, each at least 1"),
    ('{"task": "PointMassGoal-v0", "durations": [10, 10]}', "durations must be distinct"),
    ('{"task": "PointMassGoal-v0", "durations": []}', "durations must be distinct"),
    ('{"task": "PointMassGoal-v0", "durations": [1, 2.5]}', "durations"),
    ('{"task": "PointMassGoal-v0", "last_skill_obs": true, "durations": [1, 10], '
     '"agent": {"stay_prior": 0.9}}', "with several durations set stay_prior 0, or durations [1]"),
])
def test_bad_stay_prior_or_durations_is_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "c.json"
    path.write_text(content)
    assert main(["hierarchy", "--config", str(path), "--skills-from", str(tmp_path / "skills"),
                 "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_run_dir_that_cannot_be_written(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", *TINY, "--total-steps", "10", "--run-dir", str(blocker / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot write the run dir" in err, err


def test_a_diverging_run_stops_and_keeps_its_last_finite_checkpoint(tmp_path, capsys):
    """lr 1e6 blows the critic up within a few updates: the run stops with exit 1 naming the step
    and the loss, the checkpoint is the finite one from before, and --resume continues from it
    (and, with the same settings, stops the same way: the step it names is past the checkpoint)."""
    argv = ["train", *TINY, "--lr", "1e6", "--total-steps", "400", "--run-dir", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train/critic_loss is" in err and "step 100" in err, err
    state = load_checkpoint(tmp_path / "checkpoints")
    assert state["step"] == 100

    def tensors(s):
        for v in s.values():
            yield from tensors(v) if isinstance(v, dict) else [v] if isinstance(v, torch.Tensor) else []
    assert all(torch.isfinite(t).all() for t in tensors(state["agent"]) if t.is_floating_point())
    assert main(["train", "--resume", "--run-dir", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    step = int(err.split("step ")[1].split(":")[0])
    assert step > 100 and "the checkpoint on disk (step 100)" in err
    assert load_checkpoint(tmp_path / "checkpoints")["step"] == 100


def test_visualize_a_run_that_cannot_render_writes_plots_and_says_why(tmp_path, capsys):
    assert main(["train", *TINY, "--total-steps", "150", "--run-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["visualize", "--run-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["no videos: Pendulum-v1 is not a MuJoCo env, and videos are rendered by MuJoCo"]
    report = (tmp_path / "report.md").read_text()
    assert "No video" in report and (tmp_path / "media" / "eval_return.png").is_file()


def test_pretrain_without_progress_draws_no_bar(tmp_path, capsys, rendering):
    assert main(["pretrain", "--skills", "2", "--total-steps", "200", "--learning-starts", "100",
                 "--hidden", "16", "--disc-hidden", "16", "--eval-every", "200", "--threads", "1",
                 "--run-dir", str(tmp_path), "--no-progress"]) == 0
    assert "skill rollouts" not in capsys.readouterr().err
    assert (tmp_path / "report.md").is_file()


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").rglob("*.json")),
                         ids=lambda p: p.name)
def test_every_shipped_config_file_reads_as_its_command(path):
    # A hierarchy names its task, a pretraining its skills; a misspelt or retired field fails here.
    data = json.loads(path.read_text())
    command = "hierarchy" if "task" in data else "pretrain"
    cfg = read_file(path, command)
    assert cfg.command == command and (cfg.task if command == "hierarchy" else cfg.env) == (
        data.get("task") or data.get("env"))


@pytest.mark.parametrize("argv, note", [
    (["--env", "Hopper-v5"], "skills_hopper.json holds the settings measured for Hopper-v5"),
    (["--env", "Walker2d-v5", "--skills", "4"],
     "skills_walker2d.json holds the settings measured for Walker2d-v5"),
    (["--config", str(Path(__file__).parents[1] / "configs" / "skills_hopper.json")], None),
    (["--env", "PointMass-v0"], None),  # no config file: the defaults are its measured setting
])
def test_pretraining_a_robot_from_flags_points_to_its_config_file(tmp_path, capsys, monkeypatch, argv, note):
    """The defaults find few skills on most robots: a run started from flags on a robot that has
    a measured config file says where the file is; a run from a file, or on the point mass, does not."""
    import cli

    monkeypatch.setattr(cli, "pretrain", lambda cfg, run_dir, resume: {})  # the note, not the run
    assert main(["pretrain", *argv, "--run-dir", str(tmp_path), "--no-visualize"]) == 0
    out = capsys.readouterr().out
    if note is None:
        assert "note:" not in out, out
    else:
        assert note in out and "python run.py pretrain --config " in out, out


def test_print_config_shows_the_resolved_config_and_runs_nothing(tmp_path, capsys):
    """--print-config: the config a run would write (defaults, file, flags), as JSON that reads
    back as that config, and no run dir made."""
    ant = str(Path(__file__).parents[1] / "configs" / "skills_ant.json")
    argv = ["pretrain", "--config", ant, "--seed", "3", "--total-steps", "1e6",
            "--run-dir", str(tmp_path / "r")]
    assert main([*argv, "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert from_json(printed) == _config(*argv)
    assert printed["loop"]["seed"] == 3 and printed["loop"]["total_steps"] == 1_000_000
    assert printed["skills"]["method"] == "metra"  # from the file
    assert not (tmp_path / "r").exists()
