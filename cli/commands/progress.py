"""`depthal progress`: a project's rounds in the terminal, from the API's progress endpoint (design.md "Who uses it").

Shows labels used vs the budget, each round's strategy, status, mIoU and wall time, and each round's stages (its jobs:
pretrain_depth, train, score shards, select, predict) with a progress bar, sub-stage and time. Plain text, so it works
without a TTY (logs, CI); `--follow` prints a fresh report every `--interval` seconds until no round is pending or
running. Torch-free: it only talks HTTP (`--url`, token from `--token` or DEPTHAL_TOKEN).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from cli.main import CLIError

ACTIVE_ROUND_STATES = ("pending", "running")
BAR_WIDTH = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("progress", help="a project's rounds, stages, labels vs budget and mIoU (over HTTP)")
    p.add_argument("--project", type=int, required=True, help="project id")
    p.add_argument("--url", default=os.environ.get("DEPTHAL_URL", "http://127.0.0.1:8000"),
                   help="API base URL (default: $DEPTHAL_URL or http://127.0.0.1:8000)")  # fmt: skip
    p.add_argument("--token", default=None, help="API token (default: $DEPTHAL_TOKEN)")
    p.add_argument("--follow", action="store_true", help="refresh until the newest round has ended")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes with --follow")
    p.set_defaults(func=run)


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """`[#######-------------]  35%` — ASCII only, so it survives logs and dumb terminals."""
    f = min(max(fraction if math.isfinite(fraction) else 0.0, 0.0), 1.0)
    filled = int(round(f * width))
    return f"[{'#' * filled}{'-' * (width - filled)}] {f:4.0%}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(float(seconds), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def miou_text(metrics: dict[str, Any]) -> str:
    miou = metrics.get("miou")
    return f"{100 * miou:.1f}%" if isinstance(miou, (int, float)) and math.isfinite(miou) else "-"


def render(project: dict[str, Any], progress: dict[str, Any]) -> str:
    """The report as text (pure function of the two API answers; tested directly)."""
    budget = progress["budget_total"]
    used = progress["labeled"] + progress["queued"] + progress["leased"]
    lines = [
        f"project {project['id']} {project['name']!r}",
        f"labels  {progress['labeled']} labeled + {progress['queued']} queued + {progress['leased']} leased "
        f"= {used} of budget {budget}  {bar(used / budget if budget else 0.0)}",
        f"val     {progress['val_labeled']}/{progress['val_total']} labeled",
    ]
    if progress.get("sequences"):
        pool = sum(s["pool_images"] for s in progress.get("imports", []))
        lines.append(f"video   {progress['sequences']} sequences, {progress['frames']} frames for depth, {pool} pool "
                     "images")  # fmt: skip
    for j in progress.get("importing", []):
        lines.append(f"  import job {j['job_id']} {j['status']:<9} {bar(j['progress'])}  {j.get('message') or ''}"
                     .rstrip())  # fmt: skip
    rounds = progress.get("rounds", [])
    if not rounds:
        lines.append("no rounds yet")
    for r in rounds:
        labels = r.get("metrics", {}).get("labels_used")
        head = (f"round {r['index']}  {r['status']:<9} strategy={r.get('strategy') or '-'}  batch={r['batch_size']}  "
                f"labels={labels if labels is not None else '-'}  mIoU={miou_text(r.get('metrics', {}))}  "
                f"time={duration(r.get('seconds'))}")  # fmt: skip
        lines.append(head)
        for s in r.get("stages", []):
            detail = s.get("stage") or ""
            if s.get("message"):
                detail = f"{detail}: {s['message']}" if detail else s["message"]
            lines.append(f"  {s['kind']:<15} {s['status']:<9} {bar(s['progress'])} {duration(s.get('seconds')):>7}  "
                         f"{detail}".rstrip())  # fmt: skip
        if r.get("error"):
            lines.append(f"  error: {r['error']}")
    return "\n".join(lines)


def is_active(progress: dict[str, Any]) -> bool:
    return any(r["status"] in ACTIVE_ROUND_STATES for r in progress.get("rounds", []))


def fetch(client: httpx.Client, path: str) -> dict[str, Any]:
    try:
        response = client.get(path)
    except httpx.HTTPError as err:
        raise CLIError(f"cannot reach the API at {client.base_url}: {err}") from err
    if response.status_code in (401, 403):
        raise CLIError(f"the API refused the token ({response.status_code}); pass --token or set DEPTHAL_TOKEN")
    if response.status_code == 404:
        raise CLIError(f"{path}: not found (is the project id right?)")
    if response.status_code >= 400:
        raise CLIError(f"GET {path} -> {response.status_code}: {response.text[:200]}")
    return response.json()


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("DEPTHAL_TOKEN")
    if not token:
        raise CLIError("no API token: pass --token or set DEPTHAL_TOKEN")
    if args.interval <= 0:
        raise CLIError(f"--interval must be positive, got {args.interval}")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=30) as client:
        return watch(client, args.project, follow=args.follow, interval=args.interval)


def watch(
    client: httpx.Client,
    project_id: int,
    *,
    follow: bool,
    interval: float,
    echo: Callable[[str], None] = lambda text: print(text, flush=True),
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print the report once, or (follow) until no round is pending or running. Returns the exit code: 1 when the
    newest round failed, else 0."""
    project = fetch(client, f"/projects/{project_id}")
    while True:
        progress = fetch(client, f"/projects/{project_id}/progress")
        echo(render(project, progress))
        if not follow or not is_active(progress):
            rounds = progress.get("rounds", [])
            return 1 if rounds and rounds[-1]["status"] == "failed" else 0
        echo(f"-- {time.strftime('%H:%M:%S')} (refreshing every {interval:g} s; Ctrl-C stops)")
        sleep(interval)
