"""Live progress of a round's running stages for `depthal demo`: one bar per running stage.

On a terminal the bars are redrawn in place (ANSI: cursor up, erase line), so a round takes as many lines as it has
running stages, not one per percent. Elsewhere (a pipe, a CI log, a test) there is no cursor to move, so the view
prints plain lines, and only when a stage starts, changes sub-stage or crosses another tenth of its work. The bar
itself is `depthal progress`'s (`cli.commands.progress.bar`).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from cli.commands.progress import bar

CURSOR_UP_AND_ERASE = "\x1b[1F\x1b[2K"  # to the start of the previous line, then clear it
ERASE_LINE = "\r\x1b[2K"
PLAIN_STEP = 0.1  # without a terminal: one line per stage per tenth of its work


def stage_line(prefix: str, job: dict[str, Any]) -> str:
    """`    round 1: train  train  [########------------]  40%  step 240/600 loss 0.912`."""
    detail = job.get("message") or ""
    return f"{prefix}{job['kind']:<14} {job.get('stage') or '':<15} {bar(job['progress'])}  {detail}".rstrip()


class StageBars:
    """Shows the running stages of one round at a time; `update` after every poll, `clear` when the round ends."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.drawn = 0  # lines of bars on screen now (terminal only)
        self.shown: dict[int, tuple[str | None, int]] = {}  # job id → (sub-stage, tenth) last printed (plain only)

    def update(self, prefix: str, jobs: Sequence[dict[str, Any]]) -> None:
        running = [j for j in jobs if j["status"] == "running"]
        if self.tty:
            self._redraw([stage_line(prefix, j) for j in running])
        else:
            self._print_changes(prefix, running)
        self.stream.flush()

    def clear(self) -> None:
        """Remove the bars from the terminal (the caller prints the round's outcome next); forget what was shown."""
        if self.tty:
            self._redraw([])
        self.shown.clear()
        self.stream.flush()

    def _redraw(self, lines: list[str]) -> None:
        width = max(shutil.get_terminal_size((100, 24)).columns - 1, 20)  # a wrapped line would break the count
        out = [CURSOR_UP_AND_ERASE * self.drawn, ERASE_LINE]
        out += [line[:width] + "\n" for line in lines]
        self.stream.write("".join(out))
        self.drawn = len(lines)

    def _print_changes(self, prefix: str, running: list[dict[str, Any]]) -> None:
        for job in running:
            state = (job.get("stage"), int(job["progress"] / PLAIN_STEP + 1e-9))
            if self.shown.get(job["id"]) != state:
                self.shown[job["id"]] = state
                self.stream.write(stage_line(prefix, job) + "\n")
