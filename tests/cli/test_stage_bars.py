"""The demo's live stage bars: redrawn in place on a real pseudo-terminal (what a person sees is checked by replaying
the bytes through a minimal terminal), and plain, escape-free lines, a few per stage, when stdout is not a TTY."""

from __future__ import annotations

import io
import os
import re
import select

from cli.commands.stage_bars import StageBars


def job(job_id: int, kind: str, progress: float, status: str = "running", stage: str = "train") -> dict:
    return {"id": job_id, "kind": kind, "status": status, "stage": stage, "progress": progress,
            "message": f"step {round(600 * progress)}/600"}  # fmt: skip


def polls() -> list[list[dict]]:
    """A round as the demo polls it: train 0 → 100 % in 1 % steps beside a score shard, then train ends."""
    rounds = [[job(1, "train", k / 100), job(2, "score", k / 200, stage="features")] for k in range(101)]
    return [*rounds, [job(1, "train", 1.0, status="succeeded"), job(2, "score", 0.6, stage="features")]]


def screen(data: str) -> list[str]:
    """The lines a terminal shows after `data`: text, \\r, \\n, ESC[1F (start of the previous line), ESC[2K (erase
    the line), the only controls StageBars writes; anything else fails the test."""
    lines, row, col = [""], 0, 0
    for token in re.findall(r"\x1b\[[0-9;]*[A-Za-z]|\r|\n|[^\x1b\r\n]+", data):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        elif token == "\x1b[1F":
            row, col = max(row - 1, 0), 0
        elif token == "\x1b[2K":
            lines[row] = ""
        else:
            assert not token.startswith("\x1b"), f"unexpected control {token!r}"
            lines[row] = lines[row][:col] + token + lines[row][col + len(token) :]
            col += len(token)
    return lines


def test_on_a_terminal_the_bars_redraw_in_place() -> None:
    master, replica = os.openpty()
    out = os.fdopen(replica, "w", encoding="utf-8")
    received = bytearray()

    def drain() -> None:  # read as we go: a full pty buffer would block the writer
        while select.select([master], [], [], 0)[0]:
            received.extend(os.read(master, 65536))

    try:
        assert out.isatty()
        bars = StageBars(out)  # decides by itself: a TTY
        out.write("==> round 1: train, score, select\n")
        for jobs in polls():
            bars.update("    round 1: ", jobs)
            drain()
        shown = [line for line in screen(received.decode()) if line]
        assert len(shown) == 2, shown  # the heading and the one stage still running, after 102 updates
        assert shown[0] == "==> round 1: train, score, select"
        assert shown[1].startswith("    round 1: score") and "features" in shown[1] and "60%" in shown[1]
        bars.clear()
        out.write("    round 1 done\n")
        out.flush()
        drain()
    finally:
        out.close()
        os.close(master)
    text = received.decode()
    assert "\x1b[2K" in text
    assert [line for line in screen(text) if line] == ["==> round 1: train, score, select", "    round 1 done"]


def test_without_a_terminal_the_bars_are_a_few_plain_lines_per_stage() -> None:
    log = io.StringIO()  # a pipe or CI log: isatty() is False
    bars = StageBars(log)
    for jobs in polls():
        bars.update("    round 1: ", jobs)
    bars.clear()
    lines = log.getvalue().splitlines()
    assert "\x1b" not in log.getvalue() and "\r" not in log.getvalue()
    train = [line for line in lines if "round 1: train" in line]
    score = [line for line in lines if "round 1: score" in line]
    assert len(train) == 11 and len(score) == 7  # 0 %, 10 %, …, 100 % and 0 % … 60 %: not one line per percent
    assert train[-1].endswith("100%  step 600/600") and "[####################]" in train[-1]
    assert all(re.search(r"\[[#-]{20}\]\s+\d+%", line) for line in lines)
