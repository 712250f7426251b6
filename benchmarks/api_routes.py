"""Server CPU per request of the annotator's hot routes, next to a bare `SELECT 1` endpoint.

Starts `uvicorn service.main:app` on a scratch PostgreSQL database, registers images over HTTP, then drives each
route sequentially from one client and reads the server process's CPU clock (user + system, all threads, ns
resolution), so the figures depend much less on how busy the machine's other processes are than wall times (shown
too). On a shared machine other processes still inflate CPU time (caches, frequency), so the routes run in
interleaved blocks and each figure is the median over the blocks. Complements benchmarks/annotation_queue.py
(latency and throughput under concurrency).

    python -m benchmarks.api_routes [--quick] [--url postgresql+psycopg://postgres@127.0.0.1:5432/depthal_bench_routes]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import httpx
import numpy as np
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks import REPO

ADMIN = "bench-admin-token"
ROUNDS = 10  # interleaved blocks per route


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _fresh_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    from service.migrate import upgrade

    upgrade(url)


def _cpu_seconds(pid: int) -> float:
    """The process's CPU clock (Linux: clockid ((~pid) << 3) | 2, CPUCLOCK_SCHED for the whole process)."""
    return time.clock_gettime(((~pid) << 3) | 2)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_routes", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/depthal_bench_routes")
    parser.add_argument("--quick", action="store_true", help="50 requests per route instead of 300")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 512), metavar=("H", "W"), help="image/mask size")
    args = parser.parse_args()
    n = 50 if args.quick else 300
    h, w = args.size
    _fresh_database(args.url)
    with tempfile.TemporaryDirectory() as data:
        env = os.environ | {
            "DEPTHAL_DATABASE_URL": args.url,
            "DEPTHAL_DATA_DIR": data,
            "DEPTHAL_ADMIN_TOKEN": ADMIN,
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "service.main:app", "--port", str(args.port), "--log-level", "warning"],
            env=env,
            cwd=REPO,
        )
        try:
            rows = _measure(f"http://127.0.0.1:{args.port}", server.pid, n, h, w)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"Server CPU per request (user+system, one uvicorn process), {n} sequential requests per route in "
          f"{ROUNDS} interleaved blocks (median of the blocks), {h}x{w}:\n")  # fmt: skip
    print("| route | server CPU ms / request | × bare SELECT 1 | wall ms / request |")
    print("|---|---|---|---|")
    bare = rows[0][1]
    for label, cpu, wall in rows:
        print(f"| {label} | {cpu:.2f} | {cpu / bare:.1f} | {wall:.2f} |")


def _measure(base: str, pid: int, n: int, h: int, w: int) -> list[tuple[str, float, float]]:
    client = httpx.Client(base_url=base, timeout=30)
    for _ in range(100):
        try:
            if client.get("/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    project = client.post("/projects", json={"name": "bench", "label_budget": 10**6}, headers=admin).json()["id"]
    created = client.post("/users", json={"name": "ann", "role": "annotator"}, headers=admin).json()
    token = created["token"]
    client.put(f"/projects/{project}/members/{created['id']}", json={"role": "annotator"}, headers=admin)
    ann = {"Authorization": f"Bearer {token}"}
    rng = np.random.default_rng(0)
    for i in range(2 * n + 10):
        image = _png(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        res = client.post(
            f"/projects/{project}/images", files={"file": (f"{i}.png", image)}, data={"queue": "true"}, headers=admin
        )
        res.raise_for_status()
    mask = _png(rng.integers(0, 19, (h, w), dtype=np.uint8))
    png = {"content-type": "image/png"}
    state: dict[str, int] = {}

    def next_new_and_release() -> None:
        lease = client.post(f"/projects/{project}/queue/next", headers=ann).json()
        client.post(f"/leases/{lease['id']}/release", headers=ann)

    def next_and_mask() -> None:
        lease = client.post(f"/projects/{project}/queue/next", headers=ann).json()
        res = client.put(f"/images/{lease['image']['id']}/mask", content=mask, headers=ann | png)
        assert res.status_code == 201, res.text
        state["image"] = lease["image"]["id"]

    routes: list[tuple[str, Callable[[], object]]] = [
        ("GET /health/db (bare SELECT 1, no token)", lambda: client.get("/health/db")),
        ("GET /health (no database)", lambda: client.get("/health")),
        ("GET /users/me (token only)", lambda: client.get("/users/me", headers=ann)),
        ("POST next (new lease) + POST release", next_new_and_release),
        ("POST next + PUT mask (the annotator's loop)", next_and_mask),
        (
            "PUT mask, identical retry (lead)",
            lambda: client.put(f"/images/{state['image']}/mask", content=mask, headers=admin | png),
        ),
    ]
    for _, fn in routes:
        fn()  # warm
    cpu: dict[str, list[float]] = {label: [] for label, _ in routes}
    wall: dict[str, list[float]] = {label: [] for label, _ in routes}
    block = max(1, n // ROUNDS)
    for _ in range(ROUNDS):
        for label, fn in routes:
            cpu0, wall0 = _cpu_seconds(pid), time.perf_counter()
            for _ in range(block):
                fn()
            cpu[label].append((_cpu_seconds(pid) - cpu0) / block * 1000)
            wall[label].append((time.perf_counter() - wall0) / block * 1000)
    return [(label, float(np.median(cpu[label])), float(np.median(wall[label]))) for label, _ in routes]


if __name__ == "__main__":
    main()
