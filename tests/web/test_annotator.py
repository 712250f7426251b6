"""The annotator's page in real Chromium against a real `depthal serve`: sign-in and its refusals, every tool with
the stored mask checked pixel for pixel against masks computed here (not by the page's code), hotkeys, a reload
mid-drawing, a lease lost to a dead network and taken back, a failed submit that keeps the drawing, and a project
name that is markup shown as text."""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tests.web.conftest import LEASE_TTL
from tests.web.harness import ADMIN_TOKEN, WebServer, png, read_png, screenshot, sign_in, until

H, W = 64, 128
SKY, ROAD, CAR = 10, 0, 13
XSS = "<img src=x onerror=alert(1)>"


def _photo(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((H, W, 3), np.uint8)
    img[: H // 2] = (90, 140, 200)
    img[H // 2 :] = (70, 70, 75)
    img[40:56, 20:51] = (180, 30, 30)
    return np.clip(img.astype(int) + rng.integers(-8, 8, img.shape), 0, 255).astype(np.uint8)


def _prelabel() -> np.ndarray:
    ids = np.full((H, W), ROAD, np.uint8)
    ids[: H // 2] = SKY
    ids[40:56, 20:51] = CAR
    return ids


def _grid_segments() -> np.ndarray:
    return (np.arange(H)[:, None] // 8) * 16 + (np.arange(W)[None, :] // 8)


def _project(web: WebServer, lead: str, name: str, n: int, prelabel: bool = True) -> tuple[int, list[int]]:
    with web.client(lead) as c:
        project = c.post("/projects", json={"name": name, "label_budget": 50})
        assert project.status_code == 201, project.text
        pid = project.json()["id"]
        ids = []
        for k in range(n):
            r = c.post(f"/projects/{pid}/images", files={"file": (f"frame{k}.png", png(_photo(k)), "image/png"),
                       "prev": ("p.png", png(_photo(100 + k)), "image/png")}, data={"queue": "true"})  # fmt: skip
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
            if prelabel:
                web.set_prelabel(pid, ids[-1], _prelabel(), _grid_segments())
    return pid, ids


def _stored(web: WebServer, image_id: int) -> np.ndarray:
    with web.client(ADMIN_TOKEN) as admin:
        response = admin.get(f"/images/{image_id}/mask")
        assert response.status_code == 200, response.text
        return read_png(response.content)


# ---------------------------------------------------------------------------------- expected masks, computed here
def _capsule(mask: np.ndarray, a: tuple[int, int], b: tuple[int, int], radius: float, value: int) -> None:
    """Pixels whose index (x, y) lies within `radius` of the segment a–b (exact for the axis-aligned strokes used)."""
    ys, xs = np.mgrid[0:H, 0:W]
    (x0, y0), (x1, y1) = a, b
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / max(dx * dx + dy * dy, 1), 0, 1)
    mask[(x0 + t * dx - xs) ** 2 + (y0 + t * dy - ys) ** 2 <= radius * radius] = value


def _polygon(mask: np.ndarray, points: list[tuple[int, int]], value: int) -> None:
    """Pixel centres inside by the crossing-number test in exact rational arithmetic."""
    for y in range(H):
        for x in range(W):
            px, py = Fraction(2 * x + 1, 2), Fraction(2 * y + 1, 2)
            inside = False
            for (xi, yi), (xj, yj) in zip(points, points[1:] + points[:1], strict=True):
                if (yi > py) != (yj > py) and px < Fraction(xj - xi) * (py - yi) / (yj - yi) + xi:
                    inside = not inside
            if inside:
                mask[y, x] = value


def _flood(mask: np.ndarray, x: int, y: int, value: int) -> None:
    target = mask[y, x]
    queue = deque([(y, x)])
    seen = {(y, x)}
    while queue:
        cy, cx = queue.popleft()
        mask[cy, cx] = value
        for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
            if 0 <= ny < H and 0 <= nx < W and (ny, nx) not in seen and mask[ny, nx] == target:
                seen.add((ny, nx))
                queue.append((ny, nx))


# ---------------------------------------------------------------------------------- driving the canvas
def _at(page: Any, x: float, y: float) -> tuple[float, float]:
    """Screen point of image coordinate (x, y) (pixel (i, j) is the square [i, i+1) × [j, j+1))."""
    box = page.get_by_test_id("canvas").bounding_box()
    return box["x"] + x * box["width"] / W, box["y"] + y * box["height"] / H


def _stroke(page: Any, a: tuple[int, int], b: tuple[int, int]) -> None:
    page.mouse.move(*_at(page, a[0] + 0.5, a[1] + 0.5))
    page.mouse.down()
    page.mouse.move(*_at(page, b[0] + 0.5, b[1] + 0.5), steps=6)
    page.mouse.up()


def _click_pixel(page: Any, x: int, y: int) -> None:
    page.mouse.click(*_at(page, x + 0.5, y + 0.5))


def _start(page: Any, web: WebServer, token: str, pid: int) -> None:
    web.member(pid, token)
    sign_in(page, web.base, token)
    page.get_by_test_id("project-select").select_option(str(pid))
    page.get_by_test_id("start").click()
    page.wait_for_selector("[data-testid=viewport][data-state=ready]")


def _brush_size(page: Any, size: int) -> None:
    for _ in range(20):
        now = int(page.get_by_test_id("brush-size").inner_text().split()[0])
        if now == size:
            return
        page.keyboard.press("BracketLeft" if now > size else "BracketRight")
    raise AssertionError(f"could not set the brush to {size}")


def _submit_and_wait(page: Any, image_id: int) -> None:
    page.get_by_test_id("submit").click()
    until(page, f"document.querySelector('[data-testid=message-text]')?.textContent.includes('Saved image {image_id}')")


def test_tools_hotkeys_undo_and_submit_store_exactly_the_drawn_mask(web: WebServer, page: Any, shots: Path) -> None:
    lead, annotator = web.user("lead-exact", "lead"), web.user("ann-exact", "annotator")
    pid, (first, second) = _project(web, lead, "exact", 2)
    _start(page, web, annotator, pid)
    assert page.get_by_test_id("viewport").get_attribute("data-image-id") == str(first)
    assert page.get_by_test_id("superpixel-status").inner_text() == "superpixels: ready"
    expected = _prelabel()

    # brush: a filled rectangle of class 2 (key 3) from two horizontal strokes of a 4-pixel brush
    page.keyboard.press("b")
    page.keyboard.press("3")
    _brush_size(page, 4)
    for y in (5, 9):
        _stroke(page, (5, y), (30, y))
        _capsule(expected, (5, y), (30, y), 2.0, 2)
    # polygon of class 5 (key 6), closed with Enter; one edge at 45°
    page.keyboard.press("p")
    page.keyboard.press("6")
    poly = [(60, 4), (84, 4), (84, 20), (76, 28), (60, 28)]
    for x, y in poly:
        page.mouse.click(*_at(page, x, y))
    page.keyboard.press("Enter")
    _polygon(expected, poly, 5)
    # flood fill: the pre-labelled car becomes vegetation (class 8, key 9)
    page.keyboard.press("g")
    page.keyboard.press("9")
    _click_pixel(page, 30, 45)
    _flood(expected, 30, 45, 8)
    # superpixel click-fill with class "person" (11) picked by the search box
    page.keyboard.press("s")
    page.keyboard.press("Slash")
    page.keyboard.type("person")
    page.keyboard.press("Enter")
    _click_pixel(page, 100, 50)
    expected[_grid_segments() == _grid_segments()[50, 100]] = 11
    # one more fill (the whole sky to road), then Ctrl+Z takes back exactly that one step
    page.keyboard.press("g")
    page.keyboard.press("1")
    _click_pixel(page, 120, 2)
    page.keyboard.press("Control+z")
    # hotkeys: H hides and shows the mask, [ and ] size the brush, F fits, the hover line names the class
    page.keyboard.press("h")
    assert "hidden" in page.get_by_test_id("canvas").get_attribute("class")
    page.keyboard.press("h")
    assert "hidden" not in page.get_by_test_id("canvas").get_attribute("class")
    page.mouse.move(*_at(page, 100.5, 50.5))
    assert page.get_by_test_id("hover-info").inner_text() == "x 100, y 50: person (pre-label: road)"
    page.keyboard.down("q")  # hold Q: frame t−1 replaces the image, the mask stays
    until(page, "document.querySelector('[data-testid=viewport]').dataset.frame === 'prev'")
    page.keyboard.up("q")
    assert page.get_by_test_id("viewport").get_attribute("data-frame") == "t"
    assert page.get_by_test_id("reason").inner_text().startswith("It was queued directly")
    screenshot(page, "web_annotator", shots)

    _submit_and_wait(page, first)
    assert (_stored(web, first) == expected).all()
    until(page, f"document.querySelector('[data-testid=viewport]').dataset.imageId === '{second}'")
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('depthal.draft.'))") == []


def test_reload_mid_drawing_keeps_the_drawing(web: WebServer, page: Any) -> None:
    lead, annotator = web.user("lead-reload", "lead"), web.user("ann-reload", "annotator")
    pid, (image, _) = _project(web, lead, "reload", 2, prelabel=False)
    _start(page, web, annotator, pid)
    lease = page.get_by_test_id("viewport").get_attribute("data-lease-id")
    expected = np.full((H, W), 255, np.uint8)  # no pre-label: all ignore
    page.keyboard.press("2")
    _brush_size(page, 5)
    _stroke(page, (10, 30), (90, 30))
    _capsule(expected, (10, 30), (90, 30), 2.5, 1)
    until(page, f"localStorage.getItem('depthal.draft.{lease}') !== null")
    page.reload()
    page.wait_for_selector("[data-testid=viewport][data-state=ready]")  # the URL names the project: it resumes
    assert page.get_by_test_id("viewport").get_attribute("data-lease-id") == lease
    assert "Restored your unsent drawing" in page.get_by_test_id("message-text").inner_text()
    _submit_and_wait(page, image)
    assert (_stored(web, image) == expected).all()


def test_an_expired_lease_is_reported_and_the_image_taken_back(web: WebServer, page: Any, browser: Any) -> None:
    lead, annotator = web.user("lead-expire", "lead"), web.user("ann-expire", "annotator")
    pid, (image, _) = _project(web, lead, "expire", 2, prelabel=False)
    _start(page, web, annotator, pid)
    expected = np.full((H, W), 255, np.uint8)
    page.keyboard.press("4")
    _stroke(page, (20, 10), (20, 50))
    _capsule(expected, (20, 10), (20, 50), 8.0, 3)
    page.context.set_offline(True)  # heartbeats fail; the lease runs out
    until(page, "document.querySelector('[data-testid=retake]')", timeout=LEASE_TTL + 5)
    text = page.get_by_test_id("message-text").inner_text()
    assert f"Your lease on image {image} expired" in text and "Your drawing is kept" in text
    assert page.get_by_test_id("viewport").get_attribute("data-lease-state") == "expired"
    page.context.set_offline(False)
    # a failed submit (410 for the expired lease) shows the API's message and keeps the drawing
    page.get_by_test_id("submit").click()
    page.wait_for_selector("[data-testid=retake]")
    page.get_by_test_id("retake").click()
    until(page, "document.querySelector('[data-testid=message-text]')?.textContent.includes('again')")
    _submit_and_wait(page, image)
    assert (_stored(web, image) == expected).all()


def test_refusals_show_the_api_message_and_names_are_text(web: WebServer, page: Any) -> None:
    lead = web.user("lead-xss", "lead")
    pid, _ = _project(web, lead, XSS, 1)
    page.goto(f"{web.base}/app/")
    page.get_by_test_id("token-input").fill("not-a-token")
    page.get_by_test_id("signin-submit").click()
    until(page, "document.querySelector('[data-testid=message-text]')?.textContent.includes('invalid API token')")
    # the project name is markup; it must show as these very characters and never become an element
    sign_in(page, web.base, lead, "dashboard")
    until(page, f"[...document.querySelectorAll('option')].some(o => o.value === '{pid}')")
    assert XSS in page.get_by_test_id("project-select").inner_text()
    assert page.evaluate("document.querySelectorAll('img').length") == 0 and page.dialogs == []
    # an API refusal (409: beyond the budget) is shown in the API's words
    page.get_by_test_id("project-select").select_option(str(pid))
    page.get_by_test_id("round-batch").fill("999")
    page.get_by_test_id("round-start").click()
    until(page, "document.querySelector('[data-testid=message-text]')?.textContent.includes('asks for 999 images')")
    # a token revoked mid-session sends the user back to sign-in with the API's reason
    annotator = web.user("ann-revoked", "annotator")
    web.member(pid, annotator)
    sign_in(page, web.base, annotator)
    with web.client(ADMIN_TOKEN) as admin:
        me = web.client(annotator).get("/users/me").json()
        token_id = admin.get(f"/users/{me['id']}/tokens").json()["data"][0]["id"]
        assert admin.delete(f"/users/{me['id']}/tokens/{token_id}").status_code == 200
    page.get_by_test_id("project-select").select_option(str(pid))
    page.get_by_test_id("start").click()
    until(page, "document.body.dataset.view === 'signin'")
    assert "revoked" in page.get_by_test_id("message-text").inner_text()
    assert page.evaluate("sessionStorage.getItem('depthal.token')") is None
