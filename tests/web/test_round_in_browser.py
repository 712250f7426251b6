"""A lead and an annotator in the browser around a real round: `depthal serve` and a real Celery worker process on
PostgreSQL and Redis, a tiny synthetic world. The cold start and its labels come over the API; then the lead
starts round 1 from the dashboard (strategy from GET /strategies) and watches its stages run to the end and the
mIoU chart gain a point; the annotator gets an image of that round with the model's pre-label and the worker's
superpixels, click-fills one superpixel and paints a stroke, and the stored mask is exactly that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from tests.conftest import REDIS_URL, Database
from tests.e2e.compose import depthal_executable
from tests.e2e.server import Server, free_port
from tests.web.harness import read_png, screenshot, sign_in, until
from tests.web.test_annotator import _capsule
from tests.worker.procs import Worker, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

SIZE = (32, 64)
SETTINGS = {"preset": "tiny", "device": "cpu", "score_shard_size": 16, "student": {"iters": 1},
            "depth": {"finetune_iters": 2, "batch_size": 2, "checkpoint_every": 2},
            "seg": {"iterations": 2, "checkpoint_every": 2}}  # fmt: skip


def _true_mask(world: Path, name: str, split: str) -> bytes:
    stem = name.removesuffix("_leftImg8bit.png")
    return (world / "gtFine" / split / stem.split("_")[0] / f"{stem}_gtFine_labelIds.png").read_bytes()


def test_lead_runs_a_round_and_the_annotator_corrects_its_prelabel(
    postgres_database: Database, tmp_path: Path, browser: Any, shots: Path
) -> None:
    from models.data.synth.world import generate_world

    data_dir = tmp_path / "data"
    world = data_dir / "import" / "world"
    generate_world(world, sequences=14, size=SIZE, seed=1)
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = worker_env(data_dir=str(data_dir), database_url=postgres_database.url, broker_url=REDIS_URL, env="test",
                     secret_key="test-secret-key", admin_token="test-admin-token")  # fmt: skip
    worker = Worker(env, tmp_path / "worker.log", app="worker.celery_app").start()
    port = free_port()
    argv = [*depthal_executable(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    try:
        with Server(argv, env, tmp_path / "api.log", port) as api:
            _scenario(api.base, world, browser, shots)
    finally:
        worker.stop()


def _scenario(base: str, world: Path, browser: Any, shots: Path) -> None:
    import httpx

    def client(token: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    admin = client("test-admin-token")
    lead_token = admin.post("/users", json={"name": "lea", "role": "lead"}).json()["token"]
    ann_token = admin.post("/users", json={"name": "ann", "role": "annotator"}).json()["token"]
    lead, ann = client(lead_token), client(ann_token)
    body = {"name": "street", "label_budget": 8, "image_height": SIZE[0], "image_width": SIZE[1], "settings": SETTINGS}
    pid = lead.post("/projects", json=body).json()["id"]
    ann_id = ann.get("/users/me").json()["id"]
    assert admin.put(f"/projects/{pid}/members/{ann_id}", json={"role": "annotator"}).status_code == 200
    images = lead.post(f"/projects/{pid}/images/import", json={"path": "world", "layout": "cityscapes"}).json()[
        "images"
    ]
    for image in (i for i in images if i["role"] == "val"):
        files = {"file": ("m.png", _true_mask(world, image["name"], "val"), "image/png")}
        assert lead.put(f"/images/{image['id']}/mask", params={"format": "label_ids"}, files=files).status_code == 201
    round0 = lead.post(f"/projects/{pid}/rounds", json={"batch_size": 2}).json()
    until_round(lead, round0["id"])
    while (response := ann.post(f"/projects/{pid}/queue/next")).status_code == 200:
        image = response.json()["image"]
        files = {"file": ("m.png", _true_mask(world, image["name"], "train"), "image/png")}
        assert ann.put(f"/images/{image['id']}/mask", params={"format": "label_ids"}, files=files).status_code == 201

    # the lead, in the browser: round 1 with a strategy from the registry, stages to the end, a point on the chart
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    sign_in(page, base, lead_token, "dashboard")
    until(page, "document.querySelector('[data-testid=round-0]')")
    assert page.get_by_test_id("miou-chart").get_attribute("data-points") == "0"
    options = page.locator("[data-testid=round-strategy] option").all_inner_texts()
    assert options[1:] == [s["name"] for s in lead.get("/strategies").json()["data"]]
    page.get_by_test_id("round-batch").fill("2")
    page.get_by_test_id("round-strategy").select_option("diversity+difficulty")
    page.get_by_test_id("round-start").click()
    until(page, "document.querySelector('[data-testid=round-1]')", timeout=10)
    assert page.get_by_test_id("poll-info").get_attribute("data-every") == "2000"  # fast polling while it runs
    seen_running = until(page, "document.querySelector('[data-testid=round-1]')?.dataset.status !== 'pending'")
    assert seen_running
    until(page, "document.querySelector('[data-testid=round-1]').dataset.status === 'succeeded'", timeout=400)
    until(page, "document.querySelector('[data-testid=miou-chart]').dataset.points === '1'")
    stages = page.locator("[data-testid=round-1] [data-testid=stage-progress]")
    assert stages.count() >= 4 and all(float(v) == 1.0 for v in stages.evaluate_all("els => els.map(e => e.value)"))
    assert page.get_by_test_id("poll-info").get_attribute("data-every") == "15000"  # idle: slower
    screenshot(page, "web_dashboard", shots)

    # the annotator: the round's image with its pre-label and the worker's superpixels
    sign_in(page, base, ann_token)
    page.get_by_test_id("project-select").select_option(str(pid))
    page.get_by_test_id("start").click()
    until(page, "document.querySelector('[data-testid=viewport]')?.dataset.state === 'ready'")
    image_id = int(page.get_by_test_id("viewport").get_attribute("data-image-id"))
    assert page.get_by_test_id("superpixel-status").inner_text() == "superpixels: ready"
    assert page.get_by_test_id("reason").inner_text().startswith("Round 1 chose this image as its 1st pick")
    prelabel = read_png(ann.get(f"/images/{image_id}/prelabel").content)
    rgb = read_png(ann.get(f"/images/{image_id}/segments").content)
    segments = rgb[..., 0].astype(int) + 256 * rgb[..., 1].astype(int)
    assert segments.shape == SIZE and len(np.unique(segments)) > 1
    H, W = SIZE
    box = page.get_by_test_id("canvas").bounding_box()

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * box["width"] / W, box["y"] + y * box["height"] / H

    expected = prelabel.copy()
    page.keyboard.press("s")
    page.keyboard.press("5")  # fence (train id 4)
    page.mouse.click(*at(40.5, 20.5))
    expected[segments == segments[20, 40]] = 4
    page.keyboard.press("b")
    page.keyboard.press("7")  # traffic light (6)
    page.mouse.move(*at(3.5, 5.5))
    page.mouse.down()
    page.mouse.move(*at(30.5, 5.5), steps=5)
    page.mouse.up()
    _capsule_sized(expected, (3, 5), (30, 5), 8.0, 6)
    page.get_by_test_id("submit").click()
    until(page, f"document.querySelector('[data-testid=message-text]')?.textContent.includes('Saved image {image_id}')")
    stored = read_png(lead.get(f"/images/{image_id}/mask").content)
    assert (stored == expected).all()
    context.close()
    assert errors == []


def _capsule_sized(mask: np.ndarray, a: tuple[int, int], b: tuple[int, int], radius: float, value: int) -> None:
    """`_capsule` of tests/web/test_annotator.py on this test's image size."""
    import tests.web.test_annotator as t

    saved = t.H, t.W
    t.H, t.W = mask.shape
    try:
        _capsule(mask, a, b, radius, value)
    finally:
        t.H, t.W = saved


def until_round(lead: Any, round_id: int) -> None:
    import time

    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        status = lead.get(f"/rounds/{round_id}").json()["status"]
        if status in ("succeeded", "failed", "cancelled"):
            assert status == "succeeded", lead.get(f"/rounds/{round_id}").json()
            return
        time.sleep(0.5)
    raise AssertionError(f"round {round_id} did not finish")
