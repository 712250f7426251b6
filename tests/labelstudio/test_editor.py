"""Label Studio's own editor in headless Chromium (Debian's, through Playwright) against a real Label Studio and a
real depthal: a lead signs in, opens the label stream (sequential sampling: depthal's first pick comes first), sees
depthal's reason, paints one stroke with the brush, submits, and Label Studio's webhook brings the mask into depthal.
No request leaves the machine (Label Studio's telemetry is off: checked on every request the page makes)."""

from __future__ import annotations

import io
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image as PILImage

from service.labelstudio import rle
from tests.labelstudio.conftest import Depthal
from tests.labelstudio.server import LabelStudioServer
from tests.web.harness import launch

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

H, W = 128, 256
ROAD = 0


def png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    PILImage.fromarray(rng.integers(60, 200, (H, W, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_paint_in_label_studios_editor_and_the_mask_arrives(depthal: Depthal, label_studio: LabelStudioServer) -> None:
    from playwright.sync_api import sync_playwright

    project = depthal.http.post("/projects", json={"name": "editor", "label_budget": 10}, headers=depthal.lead).json()
    pid = project["id"]
    image_ids = []
    for seed in range(2):
        files = {"file": (f"f{seed}.png", png(seed), "image/png")}
        res = depthal.http.post(f"/projects/{pid}/images", files=files, data={"queue": "true"}, headers=depthal.lead)
        assert res.status_code == 201, res.text
        image_ids.append(res.json()["id"])
    linked = depthal.link(pid, label_studio)
    assert linked.status_code == 201, linked.text
    synced = depthal.sync(pid).json()
    assert synced["pushed"] == image_ids
    ls_project = linked.json()["project"]

    hosts: set[str] = set()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "request",
                lambda req: hosts.add(urlparse(req.url).hostname or "") if req.url.startswith("http") else None,
            )
            page.goto(f"{label_studio.url}/user/login/")
            page.fill("input[name=email]", label_studio.username)
            page.fill("input[name=password]", label_studio.password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/user/login" not in url)
            page.goto(f"{label_studio.url}/projects/{ls_project}/data?labeling=1")  # the label stream: next task
            page.get_by_test_id("bottombar-submit-button").wait_for()
            page.get_by_text("queued by hand (no round chose it)").first.wait_for()  # depthal's reason, above the image
            page.locator(".lsf-label", has_text="road").first.click()  # the brush is the default tool
            # the image itself, fetched cross-origin from depthal's signed URL (the editor shows it from a blob: URL)
            page.wait_for_function(f"() => [...document.images].some(i => i.complete && i.naturalWidth === {W})")
            canvas = page.locator("canvas").first.bounding_box()
            assert canvas is not None
            x0, y = canvas["x"] + canvas["width"] * 0.2, canvas["y"] + canvas["height"] * 0.5
            page.mouse.move(x0, y)
            page.mouse.down()
            for k in range(1, 21):
                page.mouse.move(x0 + k * canvas["width"] * 0.03, y)
            page.mouse.up()
            # Label Studio calls depthal's webhook before it answers the annotation's POST
            with page.expect_response(lambda r: r.request.method == "POST" and "/annotations" in r.url) as posted:
                page.get_by_test_id("bottombar-submit-button").click()
            assert posted.value.status == 201
        finally:
            browser.close()
    assert hosts <= {"127.0.0.1"}, f"the page reached outside the machine: {hosts}"

    res = depthal.http.get(f"/images/{image_ids[0]}/mask", headers=depthal.lead)
    assert res.status_code == 200, res.text  # Label Studio's webhook delivered it: no sync since the push
    mask = np.asarray(PILImage.open(io.BytesIO(res.content)))
    with label_studio.api() as api:
        task = next(t for t in api.get("/api/tasks", params={"project": ls_project, "fields": "all"}).json()["tasks"]
                    if t["data"]["depthal_image"] == image_ids[0])  # fmt: skip
    (annotation,) = task["annotations"]
    (stroke,) = annotation["result"]
    painted = rle.decode(stroke["value"]["rle"], width=W, height=H)
    assert set(np.unique(mask).tolist()) == {ROAD, 255} and ((mask == ROAD) == painted).all()
    rows, cols = np.nonzero(painted)
    assert 40 < rows.mean() < 88 and cols.max() - cols.min() > 100  # one horizontal stroke across the middle
