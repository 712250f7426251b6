"""`depthal import`: bring video into a project over HTTP: upload video files (`POST /projects/{id}/videos`), or
register a path under the server's import root (`POST /projects/{id}/images/import`, any layout), then follow the
import jobs until they end (docs/data.md, "Video and frame sequences"). Torch-free: it only talks HTTP.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from cli.commands import parse_size
from cli.commands.progress import bar, fetch
from cli.main import CLIError

FINISHED = ("succeeded", "failed", "cancelled")
OPTION_FIELDS = ("frame_stride", "pool_every", "pool_per_minute", "hfov_deg", "focal_px", "max_width", "role")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import", help="upload videos (or register a server path) into a project, over HTTP")
    p.add_argument("files", nargs="*", type=Path, help="video files to upload (.mp4, .mov, .mkv, .avi, ...)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--project", type=int, help="project id")
    target.add_argument("--new-project", metavar="NAME", help="create a project with this name first")
    p.add_argument("--budget", type=int, default=100, help="label budget of --new-project (default 100)")
    p.add_argument("--batch", type=int, default=10, help="images per round of --new-project (default 10)")
    p.add_argument(
        "--preset", choices=("tiny", "small", "method"), help="model preset of --new-project (default small)"
    )
    p.add_argument("--size", type=parse_size, help="training image size HxW of --new-project (default 256x512)")
    p.add_argument("--server", metavar="PATH", help="instead of uploading: a path under the server's import root")
    layouts = ("video", "sequence", "kitti_raw", "cityscapes_sequence", "auto", "plain", "cityscapes")
    p.add_argument("--layout", default="video", choices=layouts, help="layout of --server PATH (default video)")
    p.add_argument("--frame-stride", type=int, help="store every k-th frame (default 1: every frame)")
    pool = p.add_mutually_exclusive_group()
    pool.add_argument("--pool-every", type=int, help="one pool image per N source frames (default 30)")
    pool.add_argument("--pool-per-minute", type=float, help="instead: N pool images per minute of video")
    focal = p.add_mutually_exclusive_group()
    focal.add_argument("--hfov", dest="hfov_deg", type=float, help="horizontal field of view, degrees")
    focal.add_argument("--focal-px", type=float, help="focal length in pixels of the video")
    p.add_argument("--max-width", type=int, help="store frames at most this wide (intrinsics scaled)")
    p.add_argument("--role", choices=("pool", "val"), help="role of the sampled images (default pool)")
    p.add_argument("--no-wait", dest="wait", action="store_false", help="return once the jobs are started")
    p.add_argument("--round", action="store_true", help="after a successful import, start the project's next round")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between job reports while waiting")
    p.add_argument("--url", default=os.environ.get("DEPTHAL_URL", "http://127.0.0.1:8000"),
                   help="API base URL (default: $DEPTHAL_URL or http://127.0.0.1:8000)")  # fmt: skip
    p.add_argument("--token", default=None, help="API token (default: $DEPTHAL_TOKEN)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("DEPTHAL_TOKEN")
    if not token:
        raise CLIError("no API token: pass --token or set DEPTHAL_TOKEN")
    if bool(args.files) == bool(args.server):
        raise CLIError("give video files to upload, or --server PATH, not both")
    options = {k: getattr(args, k) for k in OPTION_FIELDS if getattr(args, k) is not None}
    with httpx.Client(base_url=args.url.rstrip("/"), headers={"Authorization": f"Bearer {token}"},
                      timeout=httpx.Timeout(30, write=None)) as client:  # fmt: skip
        extra: dict[str, Any] = {"settings": {"preset": args.preset}} if args.preset else {}
        if args.size:
            extra.update(image_height=args.size[0], image_width=args.size[1])
        project = args.project or create_project(client, args.new_project, args.budget, args.batch, **extra)
        if args.server:
            jobs = [register_path(client, project, args.server, args.layout, options)]
        else:
            jobs = [upload_video(client, project, path, options) for path in args.files]
        jobs = [j for j in jobs if j is not None]
        code = wait(client, jobs, interval=args.interval) if (args.wait or args.round) and jobs else 0
        if code == 0 and args.round:
            start_round(client, project)
        return code


def create_project(
    client: httpx.Client, name: str, budget: int, batch: int, echo: Callable[[str], None] = print, **extra: Any
) -> int:
    """A project for the import (`extra`: more fields of `POST /projects`, e.g. settings, image size)."""
    body = {"name": name, "label_budget": budget, "round_schedule": [batch], **extra}
    response = _post(client, "/projects", json=body)
    if response.status_code != 201:
        raise _refused(response, f"creating project {name!r}")
    echo(f"project {response.json()['id']} {name!r} created (label budget {budget}, {batch} images a round)")
    return int(response.json()["id"])


def start_round(client: httpx.Client, project_id: int, echo: Callable[[str], None] = print) -> None:
    response = _post(client, f"/projects/{project_id}/rounds", json={})
    if response.status_code != 202:
        raise _refused(response, "starting a round")
    echo(f"round {response.json()['index']} started; follow it: depthal progress --project {project_id} --follow")


def _post(client: httpx.Client, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.post(path, **kwargs)
    except httpx.HTTPError as err:
        raise CLIError(f"cannot reach the API at {client.base_url}: {err}") from err


def _refused(response: httpx.Response, what: str) -> CLIError:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:300]
    return CLIError(f"{what} refused ({response.status_code}): {detail}")


def upload_video(
    client: httpx.Client, project_id: int, path: Path, options: dict[str, Any], echo: Callable[[str], None] = print
) -> int:
    """Upload one video (streamed from disk); returns its import job's id."""
    if not path.is_file():
        raise CLIError(f"{path}: no such file")
    with open(path, "rb") as fh:
        # the server copies and hashes the whole file before it answers: allow minutes for a large one
        response = _post(client, f"/projects/{project_id}/videos", files={"file": (path.name, fh)},
                         data={k: str(v) for k, v in options.items()},
                         timeout=httpx.Timeout(30, read=600, write=None))  # fmt: skip
    if response.status_code != 202:
        raise _refused(response, f"upload of {path.name}")
    return _started(response.json(), path.name, echo)


def register_path(
    client: httpx.Client,
    project_id: int,
    path: str,
    layout: str,
    options: dict[str, Any],
    echo: Callable[[str], None] = print,
) -> int | None:
    """A path under the server's import root; returns the import job's id (video layout), or None when the images
    were imported by the request itself (the other layouts)."""
    body: dict[str, Any] = {"path": path, "layout": layout}
    if options:
        body["frames"] = options
    response = _post(client, f"/projects/{project_id}/images/import", json=body)
    if response.status_code not in (201, 202):
        raise _refused(response, f"import of {path}")
    if response.status_code == 201:
        result = response.json()
        echo(f"{path}: {result['imported']} images imported, {result['skipped_duplicates']} duplicates skipped")
        return None
    return _started(response.json(), path, echo)


def _started(result: dict[str, Any], what: str, echo: Callable[[str], None]) -> int:
    job = result["job"]
    echo(f"{what}: import job {job['id']} started")
    for warning in result.get("warnings", []):
        echo(f"warning: {warning}")
    return int(job["id"])


def summary(job: dict[str, Any]) -> str:
    if job["status"] == "succeeded":
        r = job["result"]
        return (f"job {job['id']} succeeded: {len(r.get('sequences', []))} sequence(s), {r.get('frames', 0)} frames "
                f"stored, {r.get('pool_images', 0)} pool images")  # fmt: skip
    return f"job {job['id']} {job['status']}: {job.get('error') or job.get('message') or ''}".rstrip()


def wait(
    client: httpx.Client,
    job_ids: list[int],
    *,
    interval: float,
    echo: Callable[[str], None] = lambda text: print(text, flush=True),
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Report each job until all have ended; 0 when all succeeded, else 1."""
    if interval <= 0:
        raise CLIError(f"--interval must be positive, got {interval}")
    pending, failed = list(job_ids), False
    while pending:
        for job_id in list(pending):
            job = fetch(client, f"/jobs/{job_id}")
            if job["status"] in FINISHED:
                echo(summary(job))
                failed = failed or job["status"] != "succeeded"
                pending.remove(job_id)
            else:
                echo(f"job {job_id} {job['status']:<9} {bar(job['progress'])} {job.get('message') or ''}".rstrip())
        if pending:
            sleep(interval)
    return 1 if failed else 0
