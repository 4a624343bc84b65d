"""Atomic, resumable checkpoints that load with `torch.load(weights_only=True)`.

A checkpoint is written to a temporary file in the same directory, flushed to disk, then
renamed over the old one: a crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

LATEST = "latest.pt"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing or cannot be read; the message says what to do."""


def save_checkpoint(directory: str | Path, state: dict, name: str = LATEST) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(directory: str | Path, name: str = LATEST, map_location: str = "cpu") -> dict:
    path = Path(directory) / name
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train first, or pass the run dir of a run "
                              "that has written one")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        # Said the same wherever it is read (a resume, a video, a library of skills): deleting
        # it would lose the run's weights, which a copy may still hold.
        raise CheckpointError(f"checkpoint {path} is corrupt or not a softskills checkpoint "
                              f"({type(e).__name__}); restore it from a copy, or start the run "
                              "again in a new --run-dir") from e
