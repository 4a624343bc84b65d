"""The benchmark scripts' own inputs: a count of 0, a negative seed or radius is one line and
exit 2 before any work, and a table that would come out empty does not overwrite the README's."""

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import count, non_negative, non_negative_float, positive  # noqa: E402


def test_argument_types_accept_what_they_say_and_nothing_else():
    assert count("3") == 3 and non_negative("0") == 0
    assert count("5e4") == 50_000 and count("2_000") == 2000  # step counts as researchers write them
    assert positive("0.5") == 0.5 and non_negative_float("0") == 0.0
    for parse, text in [(count, "0"), (count, "2.5"), (count, "x"), (non_negative, "-1"),
                        (positive, "0"), (positive, "-1"), (positive, "nan"), (positive, "inf"),
                        (non_negative_float, "-0.1"), (non_negative_float, "nan")]:
        with pytest.raises(argparse.ArgumentTypeError, match="must be"):
            parse(text)


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name, args, flag", [
    ("goals.py", ["RUN", "--goals", "0"], "--goals"),
    ("goals.py", ["RUN", "--radius", "-1"], "--radius"),
    ("discovery.py", ["--out", "OUT", "--seeds", "0", "-1"], "--seeds"),
    ("sac_quality.py", ["--eval-episodes", "0"], "--eval-episodes"),
    ("reps.py", ["--epsilon", "nan"], "--epsilon"),
    ("sac_update.py", ["--peers", "--threads", "0"], "--threads"),
])
def test_a_bad_count_or_number_is_one_line_and_exit_2(name, args, flag):
    proc = _script(name, *args)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"argument {flag}: must be" in proc.stderr


def test_discovery_with_nothing_finished_leaves_the_readme_alone(tmp_path):
    readme = tmp_path / "README.md"
    table = "<!-- discovery table -->\n| a table |\n<!-- end discovery table -->\n"
    readme.write_text(table)
    proc = _script("discovery.py", "--no-train", "--out", str(tmp_path), "--robots", "cheetah",
                   "--rollouts", "1", "--readme", str(readme))
    assert proc.returncode == 2, proc.stderr
    assert "nothing to measure" in proc.stderr.strip().splitlines()[-1]
    assert readme.read_text() == table
    proc = _script("discovery.py", "--no-train", "--out", str(tmp_path / "missing"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "no such directory" in proc.stderr


def test_sac_quality_pairs_runs_by_seed(tmp_path):
    rows = [("ours-td3", 0, 1221.2), ("ours-td3", 1, 3303.5), ("ours-td3", 5, 9.0),
            ("sb3-td3", 0, 3457.1), ("sb3-td3", 1, 3522.0), ("sb3-td3", 2, 4294.4)]
    csv = tmp_path / "q.csv"
    csv.write_text("algo,seed,steps,eval_return,eval_return_std,train_s,threads,finished\n"
                   + "".join(f"{a},{s},50000,{r},0,1,1,x\n" for a, s, r in rows))
    proc = _script("sac_quality.py", "--summarize", str(csv))
    assert proc.returncode == 0, proc.stderr
    # Seeds 0 and 1 on both sides: differences -2235.9 and -218.5, mean -1227.2, standard
    # error |d0 - d1| / 2 = 1008.7; seeds 2 and 5 have no partner.
    assert "ours-td3 - sb3-td3, paired by seed: n=2  mean  -1227.2  standard error  1008.7" in proc.stdout


def test_a_run_that_run_py_refuses_ends_the_script_with_its_one_line_and_exit_2(tmp_path):
    (tmp_path / "taken").write_text("a file, not a directory")
    proc = _script("hurdles.py", "--out", str(tmp_path / "taken"), "--seeds", "0", "--no-flat")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("run.py pretrain: error: cannot write the run dir")


def test_sac_quality_summary_of_a_missing_file_is_one_line(tmp_path):
    proc = _script("sac_quality.py", "--summarize", str(tmp_path / "none.csv"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"--summarize: no such file: {tmp_path / 'none.csv'}" in proc.stderr


def test_hurdles_compares_the_two_at_the_steps_both_evaluated(tmp_path):
    """Controllers evaluated every 10k steps, flat SAC every 20k: the means over seeds meet at
    0 and 20k only, and rows without an evaluation (training rows) are left out."""
    from hurdles import ARMS, METRIC, equal_steps

    runs = {"hier-s0": [(0, 1.0), (5, None), (10_000, 3.0), (20_000, 5.0)],
            "hier-s1": [(0, 3.0), (10_000, 1.0), (20_000, 9.0)],
            "flat-s0": [(0, 0.0), (20_000, 2.0)], "flat-s1": [(0, 1.0), (20_000, 4.0)]}
    for name, rows in runs.items():
        (tmp_path / name).mkdir()
        pd.DataFrame(rows, columns=["step", METRIC]).to_csv(tmp_path / name / "metrics.csv", index=False)
    table = equal_steps(tmp_path, [0, 1])
    assert table.index.tolist() == [0, 20_000]
    assert table["hierarchy"].tolist() == [2.0, 7.0] and table["flat SAC"].tolist() == [0.5, 3.0]
    # with the fine-tuned skills (evaluated at 0, 10k and 20k too), a third column
    for seed, rows in ((0, [(0, 4.0), (10_000, 6.0), (20_000, 8.0)]), (1, [(0, 2.0), (20_000, 10.0)])):
        (tmp_path / f"ft-s{seed}").mkdir()
        pd.DataFrame(rows, columns=["step", METRIC]).to_csv(tmp_path / f"ft-s{seed}" / "metrics.csv",
                                                            index=False)
    table = equal_steps(tmp_path, [0, 1], ARMS)
    assert table.index.tolist() == [0, 20_000] and table["fine-tuned skill"].tolist() == [3.0, 9.0]
    assert table["hierarchy"].tolist() == [2.0, 7.0]
