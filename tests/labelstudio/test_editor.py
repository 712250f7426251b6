"""Label Studio's own editor in headless Chromium (Debian's, through Playwright) against a real Label Studio and a
real depthal: round 0 queues two synthetic street frames with pre-labels and pushes them; a lead signs in, opens the
label stream (sequential sampling: depthal's first pick comes first, its reason above the image, the pre-label
pre-filled as brush regions), paints one stroke with a class the pre-label lacks, submits, and Label Studio's
webhook brings the mask into depthal: the pre-label exactly, the stroke on top. No request leaves the machine
(Label Studio's telemetry is off: checked on every request the page makes)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image as PILImage

from contracts.cityscapes import CITYSCAPES_CLASSES, label_ids_to_train_ids
from service.labelstudio.labels import merge_regions
from tests.labelstudio.conftest import Depthal
from tests.labelstudio.server import LabelStudioServer
from tests.web.harness import launch, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

H, W = 128, 256
NAMES = [name for name, _ in CITYSCAPES_CLASSES]


def street_frames(folder: Path) -> list[tuple[bytes, np.ndarray]]:
    """Two synthetic street frames (PNG bytes) with their true train ids, used as the round's pre-labels."""
    from models.data.synth.world import generate_world

    generate_world(folder, sequences=2, size=(H, W), seed=0, val_fraction=0.0)
    out = []
    for image in sorted((folder / "leftImg8bit").rglob("*_leftImg8bit.png")):
        label = Path(str(image).replace("leftImg8bit", "gtFine", 1).replace("_leftImg8bit", "_gtFine_labelIds"))
        out.append((image.read_bytes(), label_ids_to_train_ids(np.asarray(PILImage.open(label)))))
    return out


def test_paint_in_label_studios_editor_and_the_mask_arrives(
    depthal: Depthal, label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    from tests.factories import make_round, queue_round
    from worker.round.queue import push_to_labelstudio

    pid = depthal.http.post("/projects", json={"name": "editor", "label_budget": 10}, headers=depthal.lead).json()["id"]
    frames = street_frames(tmp_path / "world")
    ids = []
    for k, (data, _) in enumerate(frames):
        res = depthal.http.post(f"/projects/{pid}/images", files={"file": (f"f{k}.png", data, "image/png")},
                                data={"queue": "false"}, headers=depthal.lead)  # fmt: skip
        assert res.status_code == 201, res.text
        ids.append(res.json()["id"])
    linked = depthal.link(pid, label_studio)
    assert linked.status_code == 201, linked.text
    ls_project = linked.json()["project"]
    picks = [ids[1], ids[0]]  # round 0's pick order: the second upload first
    prelabels = {ids[k]: truth for k, (_, truth) in enumerate(frames)}
    round_id, _ = make_round(pid, 2)
    assert queue_round(round_id, picks, prelabels) == picks
    push_to_labelstudio(pid, round_id)
    first = prelabels[picks[0]]
    absent = next(name for k, name in enumerate(NAMES) if k not in np.unique(first))  # the stroke's class

    hosts: set[str] = set()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "request", lambda r: hosts.add(urlparse(r.url).hostname or "") if r.url.startswith("http") else None
            )
            page.goto(f"{label_studio.url}/user/login/")
            page.fill("input[name=email]", label_studio.username)
            page.fill("input[name=password]", label_studio.password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/user/login" not in url)
            page.goto(f"{label_studio.url}/projects/{ls_project}/data?labeling=1")  # the label stream: next task
            page.get_by_test_id("bottombar-submit-button").wait_for()
            page.get_by_text("chosen by depthal: round 0, random, pick 1").first.wait_for()  # the reason
            # the image itself, fetched cross-origin from depthal's signed URL (the editor shows it from a blob: URL)
            page.wait_for_function(f"() => [...document.images].some(i => i.complete && i.naturalWidth === {W})")
            page.locator(".lsf-label").filter(has_text=re.compile(rf"^{absent}\s*\S*$")).first.click()
            canvas = page.locator("canvas").first.bounding_box()
            assert canvas is not None
            x0, y = canvas["x"] + canvas["width"] * 0.2, canvas["y"] + canvas["height"] * 0.5
            page.mouse.move(x0, y)
            page.mouse.down()
            for k in range(1, 21):
                page.mouse.move(x0 + k * canvas["width"] * 0.03, y)
            page.mouse.up()
            screenshot(page, "labelstudio_editor", tmp_path)
            # Label Studio calls depthal's webhook before it answers the annotation's POST
            with page.expect_response(lambda r: r.request.method == "POST" and "/annotations" in r.url) as posted:
                page.get_by_test_id("bottombar-submit-button").click()
            assert posted.value.status == 201
            annotation = posted.value.json()
        finally:
            browser.close()
    assert hosts <= {"127.0.0.1"}, f"the page reached outside the machine: {hosts}"

    res = depthal.http.get(f"/images/{picks[0]}/mask", headers=depthal.lead)
    assert res.status_code == 200, res.text  # Label Studio's webhook delivered it: no sync since the push
    mask = np.asarray(PILImage.open(io.BytesIO(res.content)))
    labels = [r["value"]["brushlabels"][0] for r in annotation["result"]]
    assert set(labels) == {NAMES[k] for k in np.unique(first) if k != 255} | {absent}  # pre-filled, plus the stroke
    classes = {name: k for k, name in enumerate(NAMES)}
    assert (mask == merge_regions(annotation["result"], classes=classes, width=W, height=H)).all()
    stroke = mask == classes[absent]
    rows, cols = np.nonzero(stroke)
    assert 40 < rows.mean() < 88 and cols.max() - cols.min() > 100  # one horizontal stroke across the middle
    assert (mask[~stroke] == first[~stroke]).all()  # everywhere else the pre-label, exactly
