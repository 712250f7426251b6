"""The progress callback every long model function takes: progress(stage, fraction in [0, 1], message).

The worker passes one that writes the job's row (and raises once the job is cancelled); benchmarks print; the
default, `quiet`, does nothing."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, float, str], None]


def quiet(stage: str, fraction: float, message: str) -> None:
    return None
