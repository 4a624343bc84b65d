"""`run.py sweep`: trials as ordinary run dirs on embedded Ray, resumed by running it again,
failures reported without stopping the others, and bad input refused before Ray starts."""

import csv
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import pytest

from agents.config import ConfigError
from cli.sweep import combinations, parse_grid, parse_value, trial_name
from run import main

ROOT = Path(__file__).resolve().parents[1]
# A few thousand Pendulum steps with small networks: a trial takes seconds at one thread.
PENDULUM = ["train", "--env", "Pendulum-v1", "--learning-starts", "100", "--hidden", "32", "32",
            "--batch-size", "32", "--no-progress"]


def sweep(args: list[str], **kw) -> subprocess.Popen:
    env = dict(os.environ, MUJOCO_GL="egl", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), "sweep", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def steps_logged(run_dir: Path) -> list[int]:
    with open(run_dir / "metrics.csv") as f:
        return [int(float(r["step"])) for r in csv.DictReader(f)]


def wait_unlocked(run_dir: Path, timeout: float = 60.0) -> None:
    """Until no process holds the run dir (a killed sweep's workers exit a moment later)."""
    end = time.time() + timeout
    while time.time() < end:
        with open(run_dir / ".lock", "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                time.sleep(0.5)
    raise AssertionError(f"{run_dir} still held {timeout} s after the sweep was killed")


def test_grid_values_take_their_fields_types():
    fields = {"lr": float, "skills": int, "hidden": tuple[int, ...], "algo": Literal["sac", "td3"],
              "soft": bool, "target-entropy": float | None}
    grid = parse_grid(["lr=1e-3,3e-4", "hidden=64 64,256 256", "algo=td3", "soft=true,false",
                       "target_entropy=none,-2"], fields)
    assert grid == {"lr": [1e-3, 3e-4], "hidden": [(64, 64), (256, 256)], "algo": ["td3"],
                    "soft": [True, False], "target-entropy": [None, -2.0]}
    for bad, says in [("foo=1", "foo is not a field of this command's config; the fields are: algo, "
                       "hidden, lr, skills, soft, target-entropy"),
                      ("skills=2.5", "'2.5' is not a int"), ("algo=ppo", "'ppo' is not one of sac, td3"),
                      ("soft=yes", "'yes' is not true or false"), ("lr", "is not NAME=V1,V2"),
                      ("lr=1,1.0", "repeats a value")]:
        with pytest.raises(ConfigError, match=says):
            parse_grid([bad], fields)
    assert parse_value("7", int, "skills") == 7
    assert parse_value("2e5", int, "total-steps") == 200_000


def test_every_grid_point_and_seed_is_one_trial_with_a_unique_name():
    trials = combinations({"lr": [1e-3, 3e-4], "hidden": [(64, 64)]}, [0, 1])
    assert [(dict(p), s) for p, s in trials] == [
        ({"lr": 1e-3, "hidden": (64, 64)}, 0), ({"lr": 1e-3, "hidden": (64, 64)}, 1),
        ({"lr": 3e-4, "hidden": (64, 64)}, 0), ({"lr": 3e-4, "hidden": (64, 64)}, 1)]
    names = [trial_name(p, s) for p, s in trials]
    assert names[0] == "lr=0.001-hidden=64x64-s0" and len(set(names)) == 4
    assert trial_name((), 3) == "s3"


@pytest.mark.parametrize("args, says", [
    (["--grid", "foo=1,2"], "--grid foo is not a field of this command's config; the fields are: "),
    (["--grid", "lr=fast"], "--grid lr: 'fast' is not a float"),
    (["--grid", "lr=-1"], "trial lr=-1.0-s0: --lr must be > 0"),
    (["--seed", "3"], "--seed is set per trial in a sweep: use --seeds"),
    (["--seeds", "1", "1"], "--seeds repeats a seed"),
    (["--address", "nonsense"], "--address nonsense is not HOST:PORT"),
    (["--cpus-per-run", str((os.cpu_count() or 1) + 1)], "cores: no trial could start"),
])
def test_bad_sweep_input_is_one_line_and_exit_2_before_ray_starts(tmp_path, capsys, args, says):
    import ray

    code = main(["sweep", *PENDULUM, "--total-steps", "300", "--out", str(tmp_path / "s"), *args])
    err = capsys.readouterr().err
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not ray.is_initialized() and not (tmp_path / "s").exists()


def test_an_out_that_cannot_be_a_directory_is_one_line_and_exit_2_before_ray_starts(tmp_path, capsys):
    import ray

    (tmp_path / "s").write_text("a file, not a directory")
    code = main(["sweep", *PENDULUM, "--total-steps", "300", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"cannot write the sweep to {tmp_path / 's'} (File exists); choose another --out" in err
    assert not ray.is_initialized()


def test_an_unreachable_cluster_is_one_line_and_exit_2(tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on once this socket closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["sweep", *PENDULUM, "--total-steps", "300", "--out", str(tmp_path / "s"),
                 "--address", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 2 and "no Ray cluster reachable there" in err and len(err.strip().splitlines()) == 1


def test_a_port_that_is_not_a_ray_head_is_one_line_and_exit_2(tmp_path, capsys):
    with socket.socket() as s:  # accepts connections and never answers, as a stray service does
        s.bind(("127.0.0.1", 0))
        s.listen()
        code = main(["sweep", *PENDULUM, "--total-steps", "300", "--out", str(tmp_path / "s"),
                     "--address", f"127.0.0.1:{s.getsockname()[1]}"])
    err = capsys.readouterr().err
    assert code == 2 and "not a Ray cluster's head" in err and len(err.strip().splitlines()) == 1, err


def test_a_sweep_on_a_running_cluster_writes_its_trials_under_out(tmp_path, monkeypatch):
    """A head started elsewhere (`ray start --head` in another directory): the trials' run dirs
    are --out's, not relative to the directory the cluster's workers run in."""
    import ray

    ray_cli = str(Path(sys.executable).with_name("ray"))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # the head and the sweep alike
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = tmp_path / "head"
    head.mkdir()
    subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--num-cpus=1",
                    "--include-dashboard=false"], cwd=head, check=True, capture_output=True, timeout=120)
    try:
        monkeypatch.chdir(tmp_path)
        code = main(["sweep", *PENDULUM, "--total-steps", "300", "--eval-every", "300",
                     "--eval-episodes", "1", "--seeds", "0", "--out", "s", "--address", f"127.0.0.1:{port}"])
    finally:
        ray.shutdown()
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)
    assert code == 0
    assert (tmp_path / "s" / "s0" / "metrics.csv").exists() and not (head / "s").exists()


def test_a_killed_sweep_resumes_with_every_step_logged_once(tmp_path):
    out = tmp_path / "sweep"
    args = [*PENDULUM, "--total-steps", "2400", "--checkpoint-every", "300", "--eval-every", "300",
            "--log-every", "300", "--eval-episodes", "1", "--grid", "lr=0.001,0.003", "--seeds", "0", "1",
            "--out", str(out)]
    names = ["lr=0.001-s0", "lr=0.001-s1", "lr=0.003-s0", "lr=0.003-s1"]

    # Its own process group: the embedded Ray's GCS and raylet run in the driver's group, and a
    # crash or a scheduler's kill takes the whole group. Killing the driver alone leaves Ray to
    # notice and stop the trials, and on a loaded machine they could finish first.
    first = sweep(args, start_new_session=True)
    end = time.time() + 120
    while not list(out.glob("*/checkpoints/latest.pt")) and time.time() < end:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # no chance to tidy up
    first.communicate()
    assert not any((out / n / "trial.json").exists() for n in names), "killed too late: make trials longer"
    for d in out.glob("*/.lock"):
        wait_unlocked(d.parent)

    again = sweep(args)
    log, _ = again.communicate(timeout=300)
    assert again.returncode == 0, log
    assert "4 of 4 trials done, 0 failed" in log
    resumed = 0
    for n in names:
        steps = steps_logged(out / n)
        assert steps == list(range(0, 2401, 300)), (n, steps)  # each once, to the end
        assert json.loads((out / n / "trial.json").read_text())["status"] == "done"
        resumed += "resumed" in (out / n / "trial.log").read_text()
        assert json.loads((out / n / "config.json").read_text())["threads"] == 1
    assert resumed >= 1  # the kill came mid-way through at least one trial
    summary = (out / "sweep.md").read_text()
    assert all(f"| {n} |" in summary for n in names)

    # Grouped by grid point over the two seeds, and ranked.
    analysis = (out / "analysis" / "analysis.md").read_text()
    assert "## Ranked by final eval/return" in analysis
    assert "| lr=0.001 |" in analysis and "| lr=0.003 |" in analysis and "| 2 |" in analysis

    third = sweep(args)
    log, _ = third.communicate(timeout=120)
    assert third.returncode == 0 and "(4 already finished)" in log, log
    assert all(steps_logged(out / n) == list(range(0, 2401, 300)) for n in names)


def test_a_stopped_sweep_has_its_running_trials_checkpoint_and_resumes(tmp_path):
    """SIGTERM (how a sweep in the background is stopped; Ctrl-C takes the same path): the
    running trials stop at their next step and write a checkpoint, where a Ray shutdown alone
    would kill them and lose every step since their last periodic one (here: none before the
    end)."""
    out = tmp_path / "sweep"
    args = [*PENDULUM, "--total-steps", "4000", "--checkpoint-every", "100000", "--eval-every", "4000",
            "--log-every", "500", "--eval-episodes", "1", "--seeds", "0", "1", "--out", str(out)]
    first = sweep(args)
    end = time.time() + 120
    while time.time() < end and not all(
            (out / n / "metrics.csv").is_file() and len(steps_logged(out / n)) >= 2 for n in ("s0", "s1")):
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    log, _ = first.communicate(timeout=120)
    assert first.returncode == 130 and "stopping 2 running trials" in log, log
    for n in ("s0", "s1"):
        assert not (out / n / "trial.json").exists(), "stopped too late: make trials longer"
        assert "stopped: stopped at step" in (out / n / "trial.log").read_text()
        assert (out / n / "checkpoints" / "latest.pt").is_file(), n  # written on the way out
    again = sweep(args)
    log, _ = again.communicate(timeout=300)
    assert again.returncode == 0 and "2 of 2 trials done, 0 failed" in log, log
    for n in ("s0", "s1"):
        assert steps_logged(out / n) == list(range(0, 4001, 500)), n  # each once, to the end
        assert "resumed" in (out / n / "trial.log").read_text()


def test_a_failing_trial_is_reported_and_the_others_finish(tmp_path):
    out = tmp_path / "sweep"
    # An absurd learning rate sends the actor's loss to infinity within a few updates.
    run = sweep([*PENDULUM, "--total-steps", "400", "--grid", "lr=0.001,1e30", "--out", str(out)])
    log, _ = run.communicate(timeout=300)
    assert run.returncode == 1, log
    assert "1 of 2 trials done, 1 failed" in log
    failed = json.loads((out / "lr=1e+30-s0" / "trial.json").read_text())
    assert failed["status"] == "failed" and "is inf" in failed["reason"] and "\n" not in failed["reason"]
    assert json.loads((out / "lr=0.001-s0" / "trial.json").read_text())["status"] == "done"
    assert steps_logged(out / "lr=0.001-s0")[-1] == 400
    summary = (out / "sweep.md").read_text()
    assert "| lr=1e+30-s0 | 0 | lr=1e+30 | failed: DivergedError: step" in summary
    assert "Left out, failed: lr=1e+30-s0" in (out / "analysis" / "analysis.md").read_text()


def test_a_finished_trial_is_skipped_until_the_sweep_asks_for_more_steps(tmp_path, monkeypatch):
    from dataclasses import replace

    from agents.loop import LoopConfig, OffPolicyLoop
    from agents.sac import SACConfig
    from cli.configs import TrainConfig, to_json
    from cli.sweep import is_finished, run_trial, trial_status

    cfg = TrainConfig(env="Pendulum-v1", threads=1, loop=LoopConfig(total_steps=300, progress=False),
                      agent=SACConfig(learning_starts=100, hidden=(16, 16), batch_size=16))
    run = tmp_path / "s0"
    assert run_trial("train", to_json(cfg), str(run))["status"] == "done"
    assert is_finished(run, cfg)
    longer = replace(cfg, loop=replace(cfg.loop, total_steps=600))
    assert not is_finished(run, longer)  # resumed by the next sweep, not skipped

    def killed(*args, **kwargs):  # stopped part of the way, its config already saw 600 steps
        raise KeyboardInterrupt

    monkeypatch.setattr(OffPolicyLoop, "run", killed)
    with pytest.raises(KeyboardInterrupt):
        run_trial("train", to_json(longer), str(run))
    assert json.loads((run / "config.json").read_text())["loop"]["total_steps"] == 600
    assert trial_status(run) is None and not is_finished(run, longer)  # not read as done
    monkeypatch.undo()
    assert run_trial("train", to_json(longer), str(run))["status"] == "done"
    assert steps_logged(run)[-1] == 600 and is_finished(run, longer)


def test_embedded_ray_runs_trials_at_normal_priority():
    # Ray's default starts workers at niceness 15: beside any other job a trial would get a
    # fraction of a core.
    code = ("import os, ray; from cli.sweep import start_ray; start_ray(None); "
            "print('niceness', ray.get(ray.remote(lambda: os.nice(0)).remote())); ray.shutdown()")
    env = {k: v for k, v in os.environ.items() if k != "RAY_worker_niceness"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=env, cwd=Path(__file__).resolve().parents[1])
    assert f"niceness {os.nice(0)}" in out.stdout, out.stdout + out.stderr
