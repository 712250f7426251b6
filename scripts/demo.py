"""The README's demo, over HTTP against a running `depthal up`: users, a project, images (a synthetic street
world from `depthal synth` when available, else a few generated PNGs), image validation, a random round, and one
annotator's next → mask → progress. Prints what happened at each step. Started by scripts/demo.sh."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise SystemExit(f"demo: {response.request.method} {response.request.url.path} -> "
                         f"{response.status_code}: {response.text}")  # fmt: skip
    return response.json() if response.content else None


def street_png(k: int, height: int = 96, width: int = 192) -> bytes:
    """A tiny street-like frame: sky gradient, a building band, road; shifted a little per frame."""
    y = np.linspace(0, 1, height)[:, None, None]
    img = np.where(y < 0.4, [110, 160, 230], np.where(y < 0.6, [120, 100, 90], [70, 70, 75])).astype(float)
    img = np.broadcast_to(img, (height, width, 3)).copy()
    img[int(height * 0.4) : int(height * 0.6), (k * 7) % width : (k * 7) % width + 20] = [200, 190, 60]
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def wait_job(http: httpx.Client, job_id: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        job = ok(http.get(f"/jobs/{job_id}"))
        state = (job["status"], job["stage"], round(job["progress"], 2))
        if state != seen:
            print(f"    job {job_id}: {job['status']:<9} stage={job['stage']} progress={job['progress']:.0%}")
            seen = state
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise SystemExit(f"demo: job {job_id} did not finish within {timeout:.0f} s")


def import_images(lead: httpx.Client, project_id: int, import_root: Path) -> int:
    """`depthal synth` into the import root and register the folder; plain uploads if synth is not there."""
    out = import_root / "synth"
    synth = subprocess.run(
        [sys.executable, "-m", "service", "synth", "--out", str(out), "--sequences", "10", "--size", "96x192"],
        capture_output=True, text=True,
    )  # fmt: skip
    if synth.returncode == 0:
        result = ok(lead.post(f"/projects/{project_id}/images/import", json={"path": "synth"}))
        say(f"imported {result['imported']} frames of a synthetic street world (depthal synth, Cityscapes layout)")
        return int(result["imported"])
    say("depthal synth is not available here; uploading 8 generated frames with their t-1 / t+1 neighbours")
    for k in range(8):
        files = {"file": (f"frame_{k:02d}.png", street_png(3 * k + 1), "image/png"),
                 "prev": ("prev.png", street_png(3 * k), "image/png"),
                 "next": ("next.png", street_png(3 * k + 2), "image/png")}  # fmt: skip
        ok(lead.post(f"/projects/{project_id}/images", files=files))
    return 8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--import-root", type=Path, required=True)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress lines appear as they happen

    admin = httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.admin_token}"}, timeout=60)
    ready = ok(admin.get("/health/ready"))
    say(f"service ready at {args.url}: {ready['checks']}")
    lead_token = ok(admin.post("/users", json={"name": "lea", "role": "lead"}))["token"]
    annotator_token = ok(admin.post("/users", json={"name": "ann", "role": "annotator"}))["token"]
    say("created users lea (lead) and ann (annotator), each with an API token")
    lead = httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {lead_token}"}, timeout=60)
    ann = httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {annotator_token}"}, timeout=60)

    project = ok(lead.post("/projects", json={"name": "demo-street", "label_budget": 6, "round_schedule": [3]}))
    say(f"project {project['id']} {project['name']!r}: label budget 6, {len(project['classes'])} Cityscapes classes")
    import_images(lead, project["id"], args.import_root)

    say("validate_images job: the worker decodes every image and neighbour and writes thumbnails")
    job = wait_job(lead, ok(lead.post(f"/projects/{project['id']}/jobs", json={"kind": "validate_images"}))["id"])
    print(f"    result: {job['result'] or job['error']}")

    say("round 0 with the random strategy, batch of 3 (the depth-driven strategies arrive with the method)")
    round_ = ok(lead.post(f"/projects/{project['id']}/rounds", json={"batch_size": 3, "strategy": "random"}))
    job = wait_job(lead, round_["jobs"][0]["id"])
    print(f"    queued images (best first): {job['result'].get('queued', job['error'])}")

    lease = ok(ann.post(f"/projects/{project['id']}/queue/next"))
    image = lease["image"]
    say(f"ann asks for the next image: lease {lease['id']} on image {image['id']} ({image['name']}, "
        f"{image['width']}x{image['height']}), expires {lease['expires_at']}")  # fmt: skip
    mask = np.full((image["height"], image["width"]), 0, np.uint8)  # road
    mask[: image["height"] * 2 // 5] = 10  # sky
    mask[image["height"] * 2 // 5 : image["height"] * 3 // 5] = 2  # building
    buf = io.BytesIO()
    Image.fromarray(mask, mode="L").save(buf, "PNG")
    annotation = ok(ann.put(f"/images/{image['id']}/mask", files={"file": ("mask.png", buf.getvalue(), "image/png")}))
    say(f"ann uploads a mask (train ids: sky/building/road): annotation version {annotation['version']} stored")

    progress = ok(lead.get(f"/projects/{project['id']}/progress"))
    keys = ("budget_total", "labeled", "queued", "leased", "remaining")
    say("progress: " + ", ".join(f"{k}={progress[k]}" for k in keys))
    print(f"    per annotator: {progress['annotators']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
