"""`depthal demo`: the whole product on one machine in one command (README; design.md "The active-learning round").

1. Renders a synthetic street world (`models.data.synth.generate_world`, Cityscapes layout, with true masks).
2. Starts the embedded service (`depthal up`: SQLite database and broker under `--data-dir`, the API and one worker).
3. Over HTTP, like any client: creates a lead and simulated annotators, a project with a label budget and the
   method's strategy, imports the world, and the lead labels the val images (for mIoU).
4. Runs the cold start (depth pretraining, features, farthest-point selection) and then `--rounds` training rounds
   (the labeled set doubles each round: 4 / 8 / 16), showing one progress bar per running stage, while annotator
   threads ask `next`, download the image and submit the world's true mask (gtFine labelIds, the API's `label_ids`
   format) for each queued image.
5. Prints labels vs mIoU per round and how to read it (seed, measured noise, whether the rise and each step are
   above it, the benchmark's strategies), writes `demo_results.md` and the plot `demo_miou.png` into `--data-dir`,
   and stops the service.

Sizes are chosen for a 2-core CPU (docs/demo.md gives the measured times). The default trains each round long enough
that labels, not iterations, limit mIoU, so its curve measures what the labels are worth (docs/demo.md, "Noise and
gain"); benchmarks/label_efficiency.py compares the strategies over seeds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cli.commands import require_models
from cli.commands.serve import check_port_free
from cli.commands.stage_bars import StageBars
from cli.main import CLIError

MARKER = ".depthal-demo"  # a data dir holding this file was made by the demo and may be recreated


RandomCurve = tuple[tuple[int, float, float], ...]  # (labels, mean val mIoU %, std) over label sets


@dataclass(frozen=True)
class DemoSize:
    size: tuple[int, int]  # (H, W) of the world and of training
    pool: int  # sequences whose annotated frame is in the pool
    val: int  # sequences whose annotated frame the lead labels for mIoU
    batch: int  # the cold start's batch; every later round doubles the labeled set (`batches`)
    rounds: int  # training rounds after the cold start
    settings: dict[str, Any]  # the project's method settings (contracts.settings.ProjectSettings)
    noise: float | None = None  # val mIoU points, std of one round retrained with other seeds (measured, docs/demo.md)
    # random's curve at this size, measured (benchmarks/README.md, "demo_noise"): (labels, mean, std) over label sets
    random: RandomCurve = ()


def batches(first: int, rounds: int) -> list[int]:
    """Images selected by rounds 0..rounds: `first`, then as many as are labeled, so round k (≥ 1) trains on
    first·2^(k-1) labels, the method's doubling schedule (method.md §4.3). Gains grow with the log of the labels, so
    equal ratios give equal steps of the curve, where equal increments (6 / 12 / 18) give shrinking ones."""
    return [first * 2 ** max(k - 1, 0) for k in range(rounds + 1)]


# The default size is fixed by measurement (docs/demo.md, "Noise and gain"): 60 val images, where 12 moved mIoU by
# ±1.7 points with the choice of images alone; a pool large enough for the doubling schedule (4 / 8 / 16 labels);
# 32×64 images and 4,000 iterations per round, the smallest training found where labels, not iterations, limit
# mIoU (at 600 iterations 4 and 16 labels learned the same five classes). Rounds train on labels only (transfer
# from depth, no mean teacher or mixing): those would take 2.5 times as long, and at 1,000 iterations they were
# measured to cost a point, not gain one (benchmarks/README.md, "ablation"); a project's default is the method's.
# NOISE is how far one round's val mIoU moves with another seed at this size, which in the demo also means other
# labels: the root mean square of the per-cell stds over 3 label orders at 4 and 16 labels (benchmarks/README.md,
# "demo_noise"; the training seed alone moves it 0.2), not a guess.
NOISE = 0.6
BENCHMARK = (
    "random and the method side by side, 5 seeds each: benchmarks/README.md, label_efficiency cpu-32-4k (the demo's "
    "32x64 training on a 240-image pool): random 22.4 / 23.7 / 24.6 %, the method 23.3 / 25.2 / 25.7 % "
    "at 8 / 16 / 32 labels"
)
SIZES = {
    "default": DemoSize((32, 64), 48, 60, 4, 3, {
        "preset": "tiny", "depth": {"finetune_iters": 300, "batch_size": 4, "checkpoint_every": 50},
        "seg": {"iterations": 4000, "checkpoint_every": 500, "mean_teacher": False, "mix": "none"},
        "student": {"iters": 40}, "score_batch_size": 16},
        noise=NOISE, random=((4, 20.5, 0.4), (16, 23.3, 0.8))),
    "quick": DemoSize((32, 64), 16, 8, 3, 2, {
        "preset": "tiny", "depth": {"finetune_iters": 6, "batch_size": 2, "checkpoint_every": 3},
        "seg": {"iterations": 6, "checkpoint_every": 3}, "student": {"iters": 2}, "score_batch_size": 16}),
    # For tests: the smallest loop that still runs every stage.
    "ci": DemoSize((32, 64), 11, 3, 2, 1, {
        "preset": "tiny", "depth": {"finetune_iters": 2, "batch_size": 2, "checkpoint_every": 2},
        "seg": {"iterations": 2, "checkpoint_every": 2}, "student": {"iters": 1}, "score_batch_size": 16}),
}  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="synthetic world + embedded service + simulated annotators: labels vs mIoU")
    p.add_argument("--data-dir", type=Path, default=Path("depthal-demo"),
                   help="working folder, recreated (default ./depthal-demo); results and logs land here")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    p.add_argument("--quick", action="store_true", help="a smaller world, a few iterations: a 1-minute smoke run")
    p.add_argument("--size-preset", choices=sorted(SIZES), help=argparse.SUPPRESS)  # tests: "ci"
    p.add_argument("--rounds", type=int, help="training rounds after the cold start")
    p.add_argument("--batch", type=int,
                   help="images the cold start selects; each later round doubles the labeled set")  # fmt: skip
    p.add_argument("--annotators", type=int, default=2, help="simulated annotators (threads)")
    p.add_argument("--strategy", default="diversity+difficulty", help="selection strategy (the method's by default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--serve", action="store_true",
                   help="keep the service up afterwards so you can label in the browser (Ctrl-C stops it)")  # fmt: skip
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------------------ the service
class Service:
    """`depthal up` as a child process with its own data dir, admin token and free port; stopped with SIGINT."""

    def __init__(self, data_dir: Path, host: str, port: int) -> None:
        self.data_dir, self.host, self.port = data_dir, host, port
        self.admin_token = f"demo-{secrets.token_hex(8)}"
        self.log_path = data_dir / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 120) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEPTHAL_")}  # embedded: no outside URLs
        env.update(DEPTHAL_ENV="development", DEPTHAL_DATA_DIR=str(self.data_dir), DEPTHAL_ADMIN_TOKEN=self.admin_token)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "cli", "up", "--host", self.host, "--port",
                                          str(self.port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CLIError(f"depthal up exited with code {self.proc.returncode} while starting:\n{self.tail()}")
            try:
                if httpx.get(f"{self.base}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise CLIError(f"the service did not become ready within {timeout:.0f} s:\n{self.tail()}")

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise CLIError(f"depthal up exited with code {self.proc.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # `depthal up` stops the API, then the worker
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# ------------------------------------------------------------------------------------------------ HTTP helpers
def ok(response: httpx.Response, *expected: int) -> Any:
    if response.status_code >= 400 or (expected and response.status_code not in expected):
        raise CLIError(f"{response.request.method} {response.request.url.path} -> {response.status_code}: "
                       f"{response.text[:300]}")  # fmt: skip
    return response.json() if response.content else None


def true_mask(world: Path, name: str, split: str) -> bytes:
    """The world's gtFine labelIds PNG of an image named `<city>_<seq>_<frame>_leftImg8bit.png`."""
    stem = name.removesuffix("_leftImg8bit.png")
    return (world / "gtFine" / split / stem.split("_")[0] / f"{stem}_gtFine_labelIds.png").read_bytes()


class Annotators:
    """Threads that keep asking `next` and submit the true mask of each leased image, until stopped."""

    def __init__(self, base: str, tokens: list[str], project_id: int, world: Path) -> None:
        self.clients = [
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {t}"}, timeout=60) for t in tokens
        ]
        self.project_id, self.world = project_id, world
        self.stop_event = threading.Event()
        self.labeled = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, args=(c,), daemon=True) for c in self.clients]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _loop(self, client: httpx.Client) -> None:
        while not self.stop_event.is_set():
            try:
                response = client.post(f"/projects/{self.project_id}/queue/next")
                if response.status_code == 204:  # empty queue: wait for the next round to refill it
                    self.stop_event.wait(0.5)
                    continue
                lease = ok(response)
                image = lease["image"]
                picture = client.get(f"/images/{image['id']}/file")  # what a real annotator would look at
                if picture.status_code != 200 or not picture.content:
                    raise CLIError(f"GET /images/{image['id']}/file -> {picture.status_code}")
                png = true_mask(self.world, image["name"], "train")
                ok(client.put(f"/images/{image['id']}/mask", params={"format": "label_ids"},
                              files={"file": ("mask.png", png, "image/png")}), 201)  # fmt: skip
                with self.lock:
                    self.labeled += 1
            except Exception as err:  # noqa: BLE001 - reported by the main thread, which stops the demo
                with self.lock:
                    self.errors.append(f"{type(err).__name__}: {err}")
                return

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=30)
        for c in self.clients:
            c.close()


# ------------------------------------------------------------------------------------------------ the web app
def print_web_app(base: str, project_id: int, lead_token: str, annotator_token: str) -> None:
    """Where to look and label in the browser (docs/web.md); tokens are pasted on the sign-in page, never in a URL."""
    print(f"\n==> the web app (paste the token on its sign-in page):\n"
          f"    dashboard  {base}/app/#/dashboard?project={project_id}   lead token:      {lead_token}\n"
          f"    annotator  {base}/app/#/annotate?project={project_id}    annotator token: {annotator_token}",
          flush=True)  # fmt: skip


def serve_until_interrupted(service: Service) -> None:
    # Ctrl-C (SIGINT) must stop the demo even when it was started as a background job of a non-interactive shell,
    # which starts it with SIGINT ignored (and Python then installs no KeyboardInterrupt handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print("==> serving until Ctrl-C (the last round's images are queued, pre-labeled, for you)", flush=True)
    try:
        while True:
            service.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        print("==> Ctrl-C: stopping the service", flush=True)


# ------------------------------------------------------------------------------------------------ the demo
def prepare_data_dir(path: Path) -> Path:
    path = path.expanduser().resolve()
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            raise CLIError(f"data dir {path} is not empty and was not made by `depthal demo`; "
                           "pass an empty or new --data-dir")  # fmt: skip
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / MARKER).write_text("made by depthal demo; recreated on each run\n")
    except OSError as err:
        raise CLIError(f"data dir {path} is not writable: {err.strerror}") from err
    return path


def free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_round(lead: httpx.Client, round_id: int, service: Service, annotators: Annotators | None) -> dict[str, Any]:
    bars = StageBars()  # one bar per running stage: redrawn in place on a terminal, plain lines in a log
    try:
        while True:
            service.check_alive()
            if annotators is not None and annotators.errors:
                raise CLIError(f"a simulated annotator failed: {annotators.errors[0]}")
            round_ = ok(lead.get(f"/rounds/{round_id}"))
            bars.update(f"    round {round_['index']}: ", round_["jobs"])
            if round_["status"] in ("succeeded", "failed", "cancelled"):
                return round_
            time.sleep(0.5)
    finally:
        bars.clear()


def wait_queue_drained(lead: httpx.Client, project_id: int, service: Service, annotators: Annotators) -> dict[str, Any]:
    while True:
        service.check_alive()
        if annotators.errors:
            raise CLIError(f"a simulated annotator failed: {annotators.errors[0]}")
        progress = ok(lead.get(f"/projects/{project_id}/progress"))
        if progress["queued"] == 0 and progress["leased"] == 0:
            return progress
        time.sleep(0.3)


def results_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| round | labels used | val mIoU (%) | round time (s) |", "|---|---|---|---|"]
    for r in rows:
        miou = r["miou"]
        text = f"{100 * miou:.1f}" if miou is not None and math.isfinite(miou) else "- (cold start: no labels yet)"
        lines.append(f"| {r['index']} | {r['labels']} | {text} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def reading(rows: list[dict[str, Any]], seed: int, noise: float | None, random: RandomCurve = ()) -> str:
    """How to read the table: the seed, the measured noise, whether the first-to-last rise and each step are above
    it, random's measured curve, and where the strategies are compared (a newcomer should not read noise as a
    result)."""
    points = [(r["labels"], 100 * r["miou"]) for r in rows if r["miou"] is not None and math.isfinite(r["miou"])]
    lines = [f"seed {seed} trains every round (the same initialisation and random streams; only the labels differ)"]
    if noise is None:
        lines.append("no noise figure for this size: its mIoU says the loop runs, not what the labels are worth")
    else:
        lines.append(f"noise: another seed (other labels, other training draws) moves one round's val mIoU by about "
                     f"±{noise:.1f} points (measured, docs/demo.md)")  # fmt: skip
        # first to last, then each step when there are more than two points (a plateau should read as one)
        pairs = [(points[0], points[-1])] if len(points) >= 2 else []
        pairs += list(itertools.pairwise(points)) if len(points) > 2 else []
        for (n0, m0), (n1, m1) in pairs:
            if abs(m1 - m0) <= 2 * noise:
                verdict = "within the noise: not a measured change"
            else:
                verdict = "above the noise" if m1 > m0 else "a drop above the noise"
            lines.append(f"from {n0} to {n1} labels val mIoU moved {m1 - m0:+.1f} points: {verdict}")
    if random:
        points_text = ", ".join(f"{m:.1f} ± {s:.1f} % at {n}" for n, m, s in random)
        lines.append(f"random labels at this size, 3 label sets (benchmarks/README.md, demo_noise): {points_text}")
    lines.append(BENCHMARK)
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, strategy: str, noise: float | None, random: RandomCurve = ()) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(r["labels"], 100 * r["miou"]) for r in rows if r["miou"] is not None and math.isfinite(r["miou"])]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    ax.errorbar(xs, ys, yerr=noise, marker="o", capsize=3,
                label=strategy if noise is None else f"{strategy} (bars: ±{noise:.1f}, seed noise)")  # fmt: skip
    if random:  # measured beside the demo, not in this run: drawn dashed and named so
        ax.errorbar([n for n, _, _ in random], [m for _, m, _ in random], yerr=[s for _, _, s in random],
                    marker="s", linestyle="--", capsize=3, color="grey",
                    label="random labels (benchmark, 3 label sets)")  # fmt: skip
    ax.set_xscale("log", base=2)  # the labels double each round
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("labeled images")
    ax.set_ylabel("val mIoU (%)")
    ax.set_title("depthal demo: labels vs mIoU")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    require_models("demo")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the demo's report
    size = SIZES[args.size_preset or ("quick" if args.quick else "default")]
    rounds = args.rounds if args.rounds is not None else size.rounds
    batch = args.batch if args.batch is not None else size.batch
    if rounds < 1 or batch < 2 or args.annotators < 1:
        raise CLIError("need --rounds ≥ 1, --batch ≥ 2 and --annotators ≥ 1")
    plan = batches(batch, rounds)
    budget = sum(plan)
    if budget > size.pool:
        raise CLIError(f"--batch {batch} and --rounds {rounds} select {' + '.join(map(str, plan))} = {budget} images, "
                       f"more than the world's pool of {size.pool}")  # fmt: skip
    if args.port:
        check_port_free(args.host, args.port)
    data_dir = prepare_data_dir(args.data_dir)
    port = args.port or free_port(args.host)
    t0 = time.perf_counter()

    from models.data.synth.world import generate_world  # numpy only; imported here to keep `depthal --help` light

    world = data_dir / "import" / "world"
    sequences = size.pool + size.val
    summary = generate_world(world, sequences=sequences, size=size.size, seed=args.seed,
                             val_fraction=size.val / sequences, workers=2)  # fmt: skip
    print(f"==> synthetic world: {sequences} sequences at {size.size[1]}x{size.size[0]} in "
          f"{summary.seconds:.0f} s ({world})", flush=True)  # fmt: skip

    service = Service(data_dir, args.host, port)
    annotators: Annotators | None = None
    try:
        service.start()
        print(f"==> depthal up: API {service.base}, 1 worker, SQLite under {data_dir} (log: {service.log_path})",
              flush=True)  # fmt: skip
        admin = httpx.Client(base_url=service.base, headers={"Authorization": f"Bearer {service.admin_token}"},
                             timeout=60)  # fmt: skip
        lead_token = ok(admin.post("/users", json={"name": "lead", "role": "lead"}))["token"]
        ann_users = [ok(admin.post("/users", json={"name": f"annotator{k}", "role": "annotator"}))
                     for k in range(args.annotators)]  # fmt: skip
        ann_tokens = [u["token"] for u in ann_users]
        lead = httpx.Client(base_url=service.base, headers={"Authorization": f"Bearer {lead_token}"}, timeout=60)
        settings = {**size.settings, "strategy": args.strategy, "seed": args.seed}
        body = {"name": "demo", "label_budget": budget, "image_height": size.size[0], "image_width": size.size[1],
                "settings": settings}  # fmt: skip
        project = ok(lead.post("/projects", json=body), 201)
        pid = project["id"]
        for user in ann_users:  # the project's annotators (per-project roles, docs/security.md)
            ok(admin.put(f"/projects/{pid}/members/{user['id']}", json={"role": "annotator"}))
        imported = ok(lead.post(f"/projects/{pid}/images/import", json={"path": "world", "layout": "cityscapes"}))
        images = imported["images"]
        val = [i for i in images if i["role"] == "val"]
        for image in val:  # the lead labels the val set once: mIoU per round is measured on it
            png = true_mask(world, image["name"], "val")
            ok(lead.put(f"/images/{image['id']}/mask", params={"format": "label_ids"},
                        files={"file": ("m.png", png, "image/png")}), 201)  # fmt: skip
        n_pool = len(images) - len(val)
        print(f"==> project {pid}: budget {budget} labels, strategy {args.strategy}, {n_pool} pool + {len(val)} val "
              f"images (val labeled by the lead); {args.annotators} annotators", flush=True)  # fmt: skip
        seg = size.settings["seg"]
        training = "labels only" if seg.get("mean_teacher") is False else "labels + mean teacher and DepthMix"
        print(f"    each round trains segmentation {seg['iterations']} iterations from the depth network, {training} "
              '(docs/demo.md, "Noise and gain")', flush=True)  # fmt: skip
        print(f"    watch it from another terminal: DEPTHAL_TOKEN={lead_token} depthal progress --project {pid} "
              f"--url {service.base} --follow", flush=True)  # fmt: skip
        annotators = Annotators(service.base, ann_tokens, pid, world)
        annotators.start()

        rows: list[dict[str, Any]] = []
        for index in range(rounds + 1):
            kind = "cold start (depth pretraining, features, farthest points)" if index == 0 else "train, score, select"
            request = {"batch_size": plan[index]}
            print(f"==> round {index}: {kind}", flush=True)
            if index == rounds:  # the last round's batch stays queued, pre-labeled, for a person in the web app
                annotators.stop()
            started = time.perf_counter()
            round_ = ok(lead.post(f"/projects/{pid}/rounds", json=request))
            round_ = wait_round(lead, round_["id"], service, annotators)
            if round_["status"] != "succeeded":
                raise CLIError(f"round {index} {round_['status']}: {round_.get('error')}")
            metrics = round_.get("metrics") or {}
            rows.append({"index": index, "labels": metrics.get("labels_used", 0), "miou": metrics.get("miou"),
                         "seconds": time.perf_counter() - started})  # fmt: skip
            miou = metrics.get("miou")
            print(f"    round {index} done in {rows[-1]['seconds']:.0f} s: labels used {rows[-1]['labels']}, "
                  f"mIoU {'-' if miou is None else f'{100 * miou:.1f}%'}", flush=True)  # fmt: skip
            if index < rounds:
                progress = wait_queue_drained(lead, pid, service, annotators)
                print(f"    annotators labeled the batch over HTTP: {progress['labeled']}/{budget} labels used",
                      flush=True)  # fmt: skip
        table = results_table(rows)
        notes = reading(rows, args.seed, size.noise, size.random)
        elapsed = time.perf_counter() - t0
        (data_dir / "demo_results.md").write_text(f"{table}\n\n{notes}\n\nstrategy {args.strategy}, "
                                                  f"{elapsed:.0f} s in all\n")  # fmt: skip
        (data_dir / "demo_results.json").write_text(json.dumps(rows, indent=1))
        plot(rows, data_dir / "demo_miou.png", args.strategy, size.noise, size.random)
        print("\n" + table + "\n\n" + notes)
        print(f"\n==> {elapsed:.0f} s; table {data_dir / 'demo_results.md'}, plot {data_dir / 'demo_miou.png'}",
              flush=True)  # fmt: skip
        annotators = None  # stopped after the last round
        you = ok(admin.post("/users", json={"name": "you", "role": "annotator"}))
        ok(admin.put(f"/projects/{pid}/members/{you['id']}", json={"role": "annotator"}))
        print_web_app(service.base, pid, lead_token, you["token"])
        if args.serve:
            serve_until_interrupted(service)
        return 0
    finally:
        if annotators is not None:
            annotators.stop()
        service.stop()
