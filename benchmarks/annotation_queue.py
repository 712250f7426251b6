"""Latency and throughput of the annotation queue over HTTP on PostgreSQL (design.md, "Performance targets").

For 1, 8 and 32 concurrent simulated annotators, each looping `POST next` → `PUT mask` against a real uvicorn
server, next to the bare `GET /health/db` (`SELECT 1`) endpoint measured in the same run with the same clients.
Targets: p99 of `next` ≤ 50 ms; next+mask pairs/s ≥ 50% of the bare endpoint's requests/s.

    python benchmarks/annotation_queue.py [--quick] [--workers 2] [--seconds 5]

Needs the local PostgreSQL (it creates and drops the database `depthal_bench`); clients run as threads in this
process, on the same machine as the server, so both share its cores.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[0] = str(REPO)  # not benchmarks/: this file's name would shadow the standard library's `queue`

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image as PILImage  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

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


def fresh_database() -> str:
    name = make_url(PG_URL).database
    engine = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return PG_URL


def seed(levels: list[int], images_per_level: int) -> tuple[list[str], dict[int, int]]:
    """Annotator tokens, and one project per level with its images all queued."""
    from sqlalchemy.orm import Session

    from service.crud.projects import default_classes
    from service.crud.users import create_user
    from service.db.session import get_engine
    from service.db.tables import Image, Project, Role

    tokens, projects = [], {}
    with Session(get_engine()) as session:
        for k in range(max(levels)):
            tokens.append(create_user(session=session, name=f"bench{k:02d}", role=Role.ANNOTATOR)[1])
        for level in levels:
            project = Project(name=f"bench-{level}", label_budget=10**6, round_schedule=[], settings={})
            project.classes = default_classes()
            session.add(project)
            session.flush()
            rows = [
                {"project_id": project.id, "role": "pool", "name": f"{i}.png", "path": f"bench/{level}/{i}.png",
                 "width": WIDTH, "height": HEIGHT, "checksum": f"{level}-{i}", "state": "queued", "queue_rank": i}
                for i in range(images_per_level)
            ]  # fmt: skip
            session.execute(insert(Image), rows)
            projects[level] = project.id
        session.commit()
    return tokens, projects


def mask_png() -> bytes:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[: HEIGHT // 2] = 10  # sky over road: a typical, well-compressible label map
    buf = io.BytesIO()
    PILImage.fromarray(mask, mode="L").save(buf, "PNG")
    return buf.getvalue()


def measure(base: str, n: int, seconds: float, project_id: int | None, tokens: list[str]) -> Run:
    """`n` threads for `seconds`: bare `GET /health/db` when project_id is None, else next → mask."""
    run, lock = Run(), threading.Lock()
    png = mask_png()
    start = threading.Barrier(n + 1)
    stop_at = [0.0]

    def loop(k: int) -> None:
        local = Run()
        headers = {"Authorization": f"Bearer {tokens[k]}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            http.get("/health")  # open the keep-alive connection before the clock starts
            start.wait()
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s per measurement instead of --seconds")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--levels", default="1,8,32")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    levels = [int(x) for x in args.levels.split(",")]

    data_dir = Path(tempfile.mkdtemp(prefix="depthal-bench-"))
    env = {
        "DEPTHAL_ENV": "test", "DEPTHAL_SECRET_KEY": "bench-secret", "DEPTHAL_ADMIN_TOKEN": "bench-admin",
        "DEPTHAL_DATA_DIR": str(data_dir), "DEPTHAL_DATABASE_URL": fresh_database(),
        "DEPTHAL_BROKER_URL": "redis://127.0.0.1:6379/13", "DEPTHAL_LEASE_TTL_SECONDS": "600",
    }  # fmt: skip
    os.environ.update(env)
    from service.migrate import upgrade

    upgrade(env["DEPTHAL_DATABASE_URL"])
    tokens, projects = seed(levels, images_per_level=int(3000 * seconds))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_cmd = [sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", str(args.workers),
                  "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(server_cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
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
        rows = []
        for n in levels:
            measure(base, n, min(seconds, 1.0), None, tokens)  # warm-up: connections, caches, JIT-free but fair
            bare = measure(base, n, seconds, None, tokens)
            work = measure(base, n, seconds, projects[n], tokens)
            for r in (bare, work):
                if r.errors:
                    print(f"errors at {n} annotators: {r.errors[:3]}", file=sys.stderr)
            bare_rps, pair_rps = bare.done / bare.elapsed, work.done / work.elapsed
            rows.append(
                f"| {n} | {bare_rps:.0f}"
                f" | {pct(bare.latencies['bare'], 50):.1f} / {pct(bare.latencies['bare'], 99):.1f}"
                f" | {pct(work.latencies['next'], 50):.1f} / {pct(work.latencies['next'], 99):.1f}"
                f" | {pct(work.latencies['mask'], 50):.1f} / {pct(work.latencies['mask'], 99):.1f}"
                f" | {pair_rps:.0f} | {pair_rps / bare_rps:.0%} |"
            )
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nQueue on PostgreSQL, uvicorn --workers {args.workers}, {seconds:g} s per measurement, "
          f"mask {WIDTH}x{HEIGHT} PNG, clients in-process threads on the same machine\n")  # fmt: skip
    print("| annotators | bare SELECT 1 req/s | bare p50 / p99 ms | next p50 / p99 ms | mask p50 / p99 ms "
          "| next+mask pairs/s | pairs/s ÷ bare req/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
