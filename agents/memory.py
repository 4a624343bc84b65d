"""Refuse, in one line, an allocation that cannot fit: a run that asks for terabytes should say so
before it starts, not die in numpy or be killed by the kernel hours later."""

from __future__ import annotations

import os

from agents.config import ConfigError


def available_bytes() -> int:
    """Memory the process could still get: MemAvailable on Linux, else all physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def check_fits(nbytes: int, what: str, fix: str) -> None:
    """ConfigError if `nbytes` exceed half the memory available now (the rest of a run, its
    batches, env and other buffers, needs room too)."""
    have = available_bytes()
    if nbytes > have / 2:
        raise ConfigError(f"{what} would take {nbytes / 2**30:.3g} GiB, more than half the "
                          f"{have / 2**30:.3g} GiB available; {fix}")
