"""One logger for every run: metrics.csv (read by analysis/ with pandas) and TensorBoard.

Columns are `step`, `wall_time`, then namespaced keys (`train/...`, `eval/...`, `skill/...`).
A key seen for the first time widens the header (the file is rewritten, which happens a handful
of times per run). On resume, rows after the checkpoint's step are dropped so that every step
appears exactly once.
"""

from __future__ import annotations

import csv
from pathlib import Path

METRICS = "metrics.csv"


class MetricsLogger:
    def __init__(self, run_dir: str | Path, resume_step: int | None = None, tensorboard: bool = True):
        self.path = Path(run_dir) / METRICS
        self.columns: list[str] = ["step", "wall_time"]
        rows: list[dict] = []
        if resume_step is not None and self.path.exists():
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or self.columns)
                # A crash may leave a half-written last line; it has fewer fields.
                rows = [r for r in reader if None not in r.values() and r["step"]
                        and int(float(r["step"])) <= resume_step]
        self._rewrite(rows)
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_step is None else resume_step + 1
            self.tb = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=purge)

    def _rewrite(self, rows: list[dict]) -> None:
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            w.writeheader()
            w.writerows(rows)

    def log(self, step: int, wall_time: float, metrics: dict[str, float]) -> None:
        row = {"step": step, "wall_time": round(wall_time, 3), **metrics}
        new = [k for k in row if k not in self.columns]
        if new:
            with open(self.path, newline="") as f:
                old = list(csv.DictReader(f))
            self.columns += new
            self._rewrite(old)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)
        if self.tb is not None:
            for k, v in metrics.items():
                self.tb.add_scalar(k, v, step)

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
