"""Resume and bad input through run.py: every step once in metrics.csv, one-line errors, exit 2."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from agents.checkpoint import load_checkpoint
from run import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--env", "Pendulum-v1", "--learning-starts", "100", "--hidden", "16", "16", "--batch-size",
        "16", "--eval-episodes", "1", "--eval-every", "200", "--log-every", "50",
        "--checkpoint-every", "100", "--no-progress", "--threads", "1"]


def _steps(run_dir: Path) -> list[int]:
    return pd.read_csv(run_dir / "metrics.csv")["step"].tolist()


def test_resume_continues_with_every_step_once(tmp_path):
    assert main(["train", "--total-steps", "300", "--run-dir", str(tmp_path), *TINY]) == 0
    state = load_checkpoint(tmp_path / "checkpoints")
    assert state["step"] == 300 and len(state["buffer"]["reward"]) == 300
    # Rows written after the last checkpoint by a run that then crashed, and a half-written line.
    with open(tmp_path / "metrics.csv", "a") as f:
        f.write("350,1.0," + "," * 3 + "\n360,1.")
    assert main(["train", "--resume", "--total-steps", "600", "--run-dir", str(tmp_path), *TINY]) == 0
    assert _steps(tmp_path) == list(range(0, 601, 50))
    state = load_checkpoint(tmp_path / "checkpoints")
    assert state["step"] == 600 and state["agent"]["n_updates"] == 500


def test_train_freq_updates_every_n_steps_across_a_resume(tmp_path):
    # 150 steps past learning_starts, then 160 more: one update per 4 steps, counted on the
    # run's step, so the resume neither skips nor repeats a round (steps 104, 108, ..., 408).
    config = tmp_path / "c.json"
    config.write_text('{"agent": {"algo": "sac", "train_freq": 4}}')
    run = tmp_path / "r"
    assert main(["train", "--config", str(config), "--total-steps", "250", "--run-dir", str(run), *TINY]) == 0
    assert load_checkpoint(run / "checkpoints")["agent"]["n_updates"] == 150 // 4
    assert main(["train", "--resume", "--total-steps", "410", "--run-dir", str(run), *TINY]) == 0
    assert load_checkpoint(run / "checkpoints")["agent"]["n_updates"] == (410 - 100) // 4
    config.write_text('{"agent": {"algo": "sac", "train_freq": 0}}')
    assert main(["train", "--config", str(config), "--run-dir", str(tmp_path / "bad"), *TINY]) == 2


def test_resuming_a_finished_run_says_there_is_nothing_to_train(tmp_path, capsys):
    assert main(["train", "--total-steps", "200", "--run-dir", str(tmp_path), *TINY]) == 0
    before = (tmp_path / "metrics.csv").read_text()
    config = (tmp_path / "config.json").read_text()
    capsys.readouterr()
    assert main(["train", "--resume", "--run-dir", str(tmp_path), *TINY]) == 0
    assert "nothing to train" in capsys.readouterr().out
    assert main(["train", "--resume", "--total-steps", "100", "--run-dir", str(tmp_path), *TINY]) == 0
    assert "is at step 200 of --total-steps 100" in capsys.readouterr().out
    assert (tmp_path / "metrics.csv").read_text() == before
    assert (tmp_path / "config.json").read_text() == config


def test_resume_without_total_steps_keeps_the_runs_budget(tmp_path):
    # A run started with --total-steps 300 and resumed without the flag must keep 300, not take
    # the command's default (100k for train): resuming is continuing, not a new budget.
    from run import build_parser, resolve

    def config(*argv):
        return resolve(build_parser().parse_args(argv))[0]

    assert main(["train", "--total-steps", "300", "--run-dir", str(tmp_path), *TINY]) == 0
    assert config("train", "--resume", "--run-dir", str(tmp_path), *TINY).loop.total_steps == 300
    assert config("train", "--resume", "--run-dir", str(tmp_path), *TINY).threads == 1  # the run's own
    # --threads on a resume is honoured: continuing a run on a machine with more cores
    assert config("train", "--resume", "--run-dir", str(tmp_path), "--threads", "2").threads == 2
    resumed = config("train", "--resume", "--total-steps", "500", "--run-dir", str(tmp_path), *TINY)
    assert resumed.loop.total_steps == 500
    assert config("train", "--run-dir", str(tmp_path / "new"), *TINY).loop.total_steps == 100_000


def test_same_seed_same_run_whatever_the_process_ran_before(tmp_path):
    # Benchmarks and tests run several runs in one process: a run's initial networks must come
    # from its --seed, not from the global torch RNG that earlier runs left behind.
    args = ["train", "--total-steps", "150", *TINY]
    assert main([*args, "--run-dir", str(tmp_path / "a")]) == 0
    torch.rand(1000)
    assert main([*args, "--run-dir", str(tmp_path / "b")]) == 0
    a, b = (load_checkpoint(tmp_path / d / "checkpoints")["agent"] for d in "ab")
    for part in ("actor", "critic"):
        for name, tensor in a[part].items():
            assert torch.equal(tensor, b[part][name]), (part, name)
    assert main([*args, "--seed", "1", "--run-dir", str(tmp_path / "c")]) == 0
    c = load_checkpoint(tmp_path / "c" / "checkpoints")["agent"]
    assert not all(torch.equal(t, c["actor"][n]) for n, t in a["actor"].items())


def test_resume_restores_networks_optimizers_alpha_and_rng(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--total-steps", "400", "--run-dir", str(a), *TINY]) == 0
    assert main(["train", "--total-steps", "200", "--run-dir", str(b), *TINY]) == 0
    assert main(["train", "--resume", "--total-steps", "400", "--run-dir", str(b), *TINY]) == 0
    sa, sb = load_checkpoint(a / "checkpoints"), load_checkpoint(b / "checkpoints")
    # The resumed run starts a fresh episode, so it does not replay bit for bit; but it trained
    # from the restored state: same update count, alpha moved on from where it was.
    assert sa["agent"]["n_updates"] == sb["agent"]["n_updates"]
    assert sb["agent"]["log_alpha"] != 0.0
    assert sb["agent"]["actor_opt"]["state"][0]["step"] == sa["agent"]["actor_opt"]["state"][0]["step"]


def test_ctrl_c_checkpoints_and_resumes(tmp_path):
    args = [sys.executable, "run.py", "train", "--total-steps", "100000", "--run-dir", str(tmp_path),
            *TINY]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "checkpoints" / "latest.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "resume with --resume" in err
    step = load_checkpoint(tmp_path / "checkpoints")["step"]
    assert 100 <= step < 100000
    assert _steps(tmp_path)[-1] <= step
    assert main(["train", "--resume", "--total-steps", str(step + 100), "--run-dir", str(tmp_path),
                 *TINY]) == 0
    steps = _steps(tmp_path)
    assert len(steps) == len(set(steps)) and steps[-1] == step + 100


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MUJOCO_GL="egl")
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=120)


def _one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_unknown_env_is_one_line(tmp_path):
    _one_line_error(_run_cli("train", "--env", "Nope-v0", "--run-dir", str(tmp_path)), "valid names")


def test_bad_flag_is_one_line(tmp_path):
    _one_line_error(_run_cli("train", "--total-stepz", "5", "--run-dir", str(tmp_path)), "--total-stepz")


def test_a_flag_is_never_read_as_a_longer_one_it_begins(capsys):
    from run import main

    # finetune has --skills-from and no --skill: argparse would take one for the other.
    with pytest.raises(SystemExit) as e:
        main(["finetune", "--skills-from", "runs/a", "--task", "Hopper-v5", "--skill", "3"])
    assert e.value.code == 2 and "unrecognized arguments: --skill 3" in capsys.readouterr().err


def test_resume_of_a_dir_that_is_not_a_run(tmp_path):
    _one_line_error(_run_cli("train", "--resume", "--run-dir", str(tmp_path)), "not a softskills run")


@pytest.mark.parametrize("content", ["{}", "[1, 2]", '{"agent": {"algo": "sac"}}'])
def test_resume_of_a_run_whose_config_names_no_command(tmp_path, content):
    # A hand-written or damaged config.json: said so, not reported as a `None` run.
    (tmp_path / "config.json").write_text(content)
    _one_line_error(_run_cli("train", "--resume", "--run-dir", str(tmp_path)),
                    "names no command, so it was not written by run.py")


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_missing_or_corrupt_checkpoint(tmp_path, damage):
    assert main(["train", "--total-steps", "150", "--run-dir", str(tmp_path), *TINY]) == 0
    ckpt = tmp_path / "checkpoints" / "latest.pt"
    if damage == "missing":
        ckpt.unlink()
    else:
        ckpt.write_bytes(ckpt.read_bytes()[:1000])
    _one_line_error(_run_cli("train", "--resume", "--run-dir", str(tmp_path), *TINY),
                    "no checkpoint" if damage == "missing" else
                    "corrupt or not a softskills checkpoint (RuntimeError); restore it from a copy")


def test_new_run_refuses_to_overwrite_a_run(tmp_path):
    assert main(["train", "--total-steps", "150", "--run-dir", str(tmp_path), *TINY]) == 0
    _one_line_error(_run_cli("train", "--total-steps", "150", "--run-dir", str(tmp_path), *TINY),
                    "--resume")


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    from agents import checkpoint

    checkpoint.save_checkpoint(tmp_path, {"step": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", boom)
    with pytest.raises(OSError):
        checkpoint.save_checkpoint(tmp_path, {"step": 2})
    assert torch.load(tmp_path / "latest.pt", weights_only=True) == {"step": 1}
    assert list(tmp_path.iterdir()) == [tmp_path / "latest.pt"]


def test_run_dir_defaults_to_command_env_seed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--total-steps", "200", "--seed", "3", *TINY]) == 0
    run_dir = tmp_path / "runs" / "train-Pendulum-v1-s3"
    assert _steps(run_dir)[-1] == 200
    # the same flags find the same run again: a new run is refused, --resume extends it
    assert main(["train", "--total-steps", "200", "--seed", "3", *TINY]) == 2
    assert main(["train", "--resume", "--total-steps", "300", "--seed", "3", *TINY]) == 0
    assert _steps(run_dir)[-1] == 300


def test_second_writer_of_a_run_dir_is_refused_and_a_killed_one_leaves_no_lock(tmp_path):
    assert main(["train", "--total-steps", "150", "--run-dir", str(tmp_path), *TINY]) == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom agents.rundir import hold_run_dir\n"
         f"with hold_run_dir({str(tmp_path)!r}):\n    print('held', flush=True)\n    time.sleep(120)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        _one_line_error(_run_cli("train", "--resume", "--total-steps", "250", "--run-dir",
                                 str(tmp_path), *TINY), f"being written by pid {holder.pid}")
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs, the kernel drops the lock
        holder.wait()
    assert main(["train", "--resume", "--total-steps", "250", "--run-dir", str(tmp_path), *TINY]) == 0
    assert _steps(tmp_path)[-1] == 250


def test_ctrl_c_before_the_loop_says_interrupted(monkeypatch, capsys):
    """A Ctrl-C that lands before the loop's own handler (while envs or networks are built) is
    Python's bare KeyboardInterrupt: one line that says so, exit 130, not an empty message."""
    import run

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "run_command", interrupted)
    assert run.main(["train", "--env", "Pendulum-v1"]) == 130
    assert capsys.readouterr().err == "run.py train: interrupted\n"
