"""Latency and throughput of the annotation queue over HTTP on PostgreSQL (design.md, "Performance targets").

Two tables against one real uvicorn server:
- closed loop (saturation): for 1, 8 and 32 concurrent simulated annotators, each looping `POST next` → `PUT mask`
  as fast as it can, next to the bare `GET /health/db` (`SELECT 1`) endpoint measured in the same run with the same
  clients. Targets: p99 of `next` ≤ 50 ms; next+mask pairs/s ≥ 50% of the bare endpoint's requests/s. A pair is
  two HTTP requests (one a multipart upload), so the per-request ratio, pairs/s ÷ (bare req/s ÷ 2), is shown too.
- annotators with think time (a realistic load): each annotator waits between its `next` and its mask, as people
  spend seconds to minutes per mask (each wait uniform in 0.5–1.5 × `--think-ms`, first request at a random offset,
  so the annotators do not march in step). Latency at the load many people actually produce.

    python -m benchmarks.annotation_queue [--quick] [--workers 2] [--seconds 5] [--think-ms 1000] [--queued N]

Needs the local PostgreSQL (it creates and drops the database `depthal_bench`); clients run as threads in this
process, on the same machine as the server, so both share its cores.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image as PILImage
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from benchmarks import REPO

PG_URL = os.environ.get("DEPTHAL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/depthal_bench")
WIDTH, HEIGHT = 512, 256  # the mask every annotator sends: a realistic size for a downscaled street frame


@dataclass
class Run:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"next": [], "mask": [], "bare": []})
    done: int = 0  # completed units: bare requests, or next+mask pairs
    elapsed: float = 0.0
    errors: list[str] = field(default_factory=list)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q)) if values else float("nan")


def latency(run: Run, key: str) -> str:
    """'p50 / p99' in ms."""
    return f"{pct(run.latencies[key], 50):.1f} / {pct(run.latencies[key], 99):.1f}"


def report_errors(n: int, *runs: Run) -> None:
    for r in runs:
        if r.errors:
            print(f"errors at {n} annotators: {r.errors[:3]}", file=sys.stderr)


def fresh_database() -> str:
    name = make_url(PG_URL).database
    engine = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return PG_URL


def seed(names: list[str], annotators: int, images_per_project: int) -> tuple[list[str], dict[str, int]]:
    """Annotator tokens, and one project per name (one per measurement) with its images all queued."""
    from sqlalchemy.orm import Session

    from service.crud.projects import default_classes
    from service.crud.users import create_user
    from service.db.session import get_engine
    from service.db.tables import Image, Membership, Project, Role

    tokens, projects, user_ids = [], {}, []
    with Session(get_engine()) as session:
        for k in range(annotators):
            user, token = create_user(session=session, name=f"bench{k:03d}", role=Role.ANNOTATOR)
            tokens.append(token)
            user_ids.append(user.id)
        for level in names:
            project = Project(name=f"bench-{level}", label_budget=10**6, round_schedule=[], settings={})
            project.classes = default_classes()
            session.add(project)
            session.flush()
            rows = [
                {"project_id": project.id, "role": "pool", "name": f"{i}.png", "path": f"bench/{level}/{i}.png",
                 "width": WIDTH, "height": HEIGHT, "checksum": f"{level}-{i}", "state": "queued", "queue_rank": i}
                for i in range(images_per_project)
            ]  # fmt: skip
            session.execute(insert(Image), rows)
            session.add_all(Membership(project_id=project.id, user_id=u, role="annotator") for u in user_ids)
            projects[level] = project.id
        session.commit()
    return tokens, projects


def mask_png() -> bytes:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[: HEIGHT // 2] = 10  # sky over road: a typical, well-compressible label map
    buf = io.BytesIO()
    PILImage.fromarray(mask, mode="L").save(buf, "PNG")
    return buf.getvalue()


def measure(base: str, n: int, seconds: float, project_id: int | None, tokens: list[str], think_s: float = 0.0) -> Run:
    """`n` threads for `seconds`: bare `GET /health/db` when project_id is None, else next → (think) → mask."""
    run, lock = Run(), threading.Lock()
    png = mask_png()
    start = threading.Barrier(n + 1)
    stop_at = [0.0]

    def loop(k: int) -> None:
        local = Run()
        headers = {"Authorization": f"Bearer {tokens[k]}"}
        rng = random.Random(k)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            http.get("/health")  # open the keep-alive connection before the clock starts
            start.wait()
            time.sleep(rng.uniform(0, think_s))
            while time.perf_counter() < stop_at[0]:
                t0 = time.perf_counter()
                if project_id is None:
                    r = http.get("/health/db")
                    local.latencies["bare"].append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        local.errors.append(f"bare {r.status_code}")
                        break
                    local.done += 1
                    continue
                r = http.post(f"/projects/{project_id}/queue/next")
                t1 = time.perf_counter()
                if r.status_code != 200:
                    local.errors.append(f"next {r.status_code} {r.text[:200]}")
                    break
                image_id = r.json()["image_id"]
                local.latencies["next"].append(t1 - t0)
                if think_s:
                    time.sleep(think_s * rng.uniform(0.5, 1.5))
                    t1 = time.perf_counter()
                r = http.put(f"/images/{image_id}/mask", files={"file": ("m.png", png, "image/png")})
                local.latencies["mask"].append(time.perf_counter() - t1)
                if r.status_code != 201:
                    local.errors.append(f"mask {r.status_code} {r.text[:200]}")
                    break
                local.done += 1
        with lock:
            for key, values in local.latencies.items():
                run.latencies[key] += values
            run.done += local.done
            run.errors += local.errors

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    t_start = time.perf_counter()
    stop_at[0] = t_start + seconds
    start.wait()
    for t in threads:
        t.join()
    run.elapsed = time.perf_counter() - t_start
    return run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.annotation_queue", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s per measurement instead of --seconds")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--levels", default="1,8,32", help="annotators, closed loop")
    parser.add_argument("--think-ms", type=float, default=1000.0, help="mean wait between next and mask")
    parser.add_argument("--think-levels", default="8,32,128", help="annotators with think time ('' to skip)")
    parser.add_argument("--think-seconds", type=float, default=30.0, help="per think-time level; --quick: 6 s")
    parser.add_argument("--queued", type=int, default=None,
                        help="queued images per measurement's project (default 3000 per second measured, so the "
                             "queue never drains; `next` must not slow down as it grows)")  # fmt: skip
    args = parser.parse_args()
    if args.queued is not None and args.queued < 1:
        parser.error(f"--queued must be at least 1 image, got {args.queued}")
    seconds = 1.0 if args.quick else args.seconds
    think_seconds = 6.0 if args.quick else args.think_seconds
    levels = [int(x) for x in args.levels.split(",")]
    think_levels = [int(x) for x in args.think_levels.split(",") if x]

    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    data_dir = Path(tempfile.mkdtemp(prefix="depthal-bench-"))
    env = {
        "DEPTHAL_ENV": "test", "DEPTHAL_SECRET_KEY": "bench-secret", "DEPTHAL_ADMIN_TOKEN": "bench-admin",
        "DEPTHAL_DATA_DIR": str(data_dir), "DEPTHAL_DATABASE_URL": fresh_database(),
        "DEPTHAL_BROKER_URL": "redis://127.0.0.1:6379/13", "DEPTHAL_LEASE_TTL_SECONDS": "600",
    }  # fmt: skip
    os.environ.update(env)
    from service.migrate import upgrade

    upgrade(env["DEPTHAL_DATABASE_URL"])
    names = [f"closed-{n}" for n in levels] + [f"think-{n}" for n in think_levels]
    queued = args.queued if args.queued is not None else int(3000 * seconds)
    tokens, projects = seed(names, max(levels + think_levels), images_per_project=queued)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_cmd = [sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers", str(args.workers),
                  "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(server_cmd, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        closed, thinking = [], []
        for n in levels:
            measure(base, n, min(seconds, 1.0), None, tokens)  # warm-up: connections, caches, JIT-free but fair
            bare = measure(base, n, seconds, None, tokens)
            work = measure(base, n, seconds, projects[f"closed-{n}"], tokens)
            report_errors(n, bare, work)
            bare_rps, pair_rps = bare.done / bare.elapsed, work.done / work.elapsed
            closed.append(
                f"| {n} | {bare_rps:.0f} | {latency(bare, 'bare')} | {latency(work, 'next')}"
                f" | {latency(work, 'mask')} | {pair_rps:.0f} | {pair_rps / bare_rps:.0%}"
                f" | {pair_rps / (bare_rps / 2):.0%} |"
            )
        for n in think_levels:
            work = measure(base, n, think_seconds, projects[f"think-{n}"], tokens, think_s=args.think_ms / 1000)
            report_errors(n, work)
            thinking.append(
                f"| {n} | {args.think_ms:.0f} | {work.done / work.elapsed:.1f} | {len(work.latencies['next'])}"
                f" | {latency(work, 'next')} | {latency(work, 'mask')} |"
            )
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nQueue on PostgreSQL, uvicorn --workers {args.workers}, mask {WIDTH}x{HEIGHT} PNG, {queued} queued images "
          f"per project, clients in-process threads on the same machine; load average before the run: "
          f"{load_before}\n")  # fmt: skip
    print(f"Closed loop (each annotator sends its next request as soon as the last one is answered), {seconds:g} s "
          "per measurement. A pair is two requests, so the last column compares requests with requests.\n")  # fmt: skip
    print("| annotators | bare SELECT 1 req/s | bare p50 / p99 ms | next p50 / p99 ms | mask p50 / p99 ms "
          "| next+mask pairs/s | pairs/s ÷ bare req/s | pairs/s ÷ (bare req/s ÷ 2) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(closed))
    if thinking:
        print(f"\nAnnotators with think time: each waits 0.5–1.5 × {args.think_ms:.0f} ms between its next and its "
              f"mask, {think_seconds:g} s per measurement.\n")  # fmt: skip
        print("| annotators | mean think ms | next+mask pairs/s | next requests | next p50 / p99 ms "
              "| mask p50 / p99 ms |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        print("\n".join(thinking))
    return 0


if __name__ == "__main__":
    sys.exit(main())
