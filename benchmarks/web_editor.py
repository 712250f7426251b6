"""How fast the annotator's page is in a real browser (design.md, "Performance targets"; docs/web.md).

Drives the page at `/app` in headless Chromium (Debian's, under Playwright) against a real `depthal serve` on SQLite,
at Cityscapes' 2048×1024 and at 1024×512, and prints one table beside the targets. Everything is measured inside the
page, on the page's own clock (performance.now, event.timeStamp):
- submit → next image shown: from the Submit click (PNG encode, PUT, `next`, image + pre-label + superpixels
  fetched and decoded) to the animation frame that shows the next image; target ≤ 300 ms on loopback;
- brush event → screen: from a pointer event's timestamp to the next animation frame (the frame that shows the
  stroke; the page repaints only the dirty rectangle), for a 64-pixel brush dragged across the image; ≤ 16 ms;
- flood fill and superpixel fill of a 1-megapixel region (half the 2048×1024 image; at 1024×512 the same half,
  0.26 Mpx): click → next animation frame; ≤ 100 ms;
- PNG encode and upload of the mask: the page's own `depthal:encode` and `depthal:upload` measures; ≤ 300 ms;
- JS + CSS bytes the page loads (and gzip-compressed, for reference).

    python -m benchmarks.web_editor [--repeat 5]

The superpixel map is written by this script (one segment covering the region, a grid elsewhere): it measures the
page's fill, not the worker's segmentation. Run under `nice` on a shared machine; figures vary with load.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from service.web import STATIC_DIR
from tests.web.harness import ADMIN_TOKEN, launch, png, serve, sign_in, until

SIZES = [(1024, 2048), (512, 1024)]
TARGETS = {"submit → next shown": "≤ 300 ms", "brush event → screen": "≤ 16 ms", "flood fill, region": "≤ 100 ms",
           "superpixel fill, region": "≤ 100 ms", "PNG encode": "≤ 300 ms (with upload)", "upload (PUT)": "",
           "encode + upload": "≤ 300 ms", "fetch + decode": "", "prepare": ""}  # fmt: skip

WATCH_JS = """(type) => {
  const v = document.querySelector('[data-testid=viewport]');
  window.__bench = [];
  v.addEventListener(type, (e) => {
    const t = e.timeStamp;
    requestAnimationFrame(() => window.__bench.push(performance.now() - t));
  });
}"""
NEXT_SHOWN_JS = """() => new Promise((resolve) => {
  const t0 = performance.now();
  document.addEventListener('depthal:image-shown', () => resolve(performance.now() - t0), { once: true });
  document.querySelector('[data-testid=submit]').click();
})"""


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A street-like picture with texture (so its PNG is of a realistic size, ~2–4 bytes a pixel)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = (110, 150, 200)
    img[h // 2 :] = (80, 80, 85)
    noise = rng.integers(-25, 25, (h, w, 3))
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)


def _seed(server, lead: str, h: int, w: int, n: int) -> int:  # type: ignore[no-untyped-def]
    with server.client(lead) as c:
        pid = c.post("/projects", json={"name": f"bench {w}x{h}", "label_budget": 100}).json()["id"]
        prelabel = np.full((h, w), 10, np.uint8)  # sky
        prelabel[:, : w // 2] = 0  # the region: left half, road (1,048,576 px at 2048×1024)
        segments = 1 + (np.arange(h)[:, None] // 32) * (w // 32) + (np.arange(w)[None, :] // 32)
        segments[:, : w // 2] = 0  # one superpixel covering the region
        for k in range(n):
            files = {"file": (f"img{k}.png", png(_photo(h, w, k)), "image/png")}
            image = c.post(f"/projects/{pid}/images", files=files, data={"queue": "true"}, timeout=120).json()
            server.set_prelabel(pid, image["id"], prelabel, segments)
    return pid


def _click_fill(page, tool_key: str, class_key: str, x: float, y: float, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    page.keyboard.press(tool_key)
    page.evaluate(WATCH_JS, "pointerdown")
    for k in range(repeat):
        page.keyboard.press(class_key if k % 2 == 0 else "1")  # alternate classes so every click changes the region
        page.mouse.click(x, y)
        until(page, f"window.__bench.length >= {k + 1}")
    return page.evaluate("window.__bench")


def measure(page, server, lead: str, annotator: str, h: int, w: int, repeat: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    pid = _seed(server, lead, h, w, repeat + 2)
    server.member(pid, annotator)
    sign_in(page, server.base, annotator)
    page.get_by_test_id("project-select").select_option(str(pid))
    page.get_by_test_id("start").click()
    until(page, "document.querySelector('[data-testid=viewport]')?.dataset.state === 'ready'", timeout=60)
    box = page.get_by_test_id("canvas").bounding_box()
    sx, sy = box["width"] / w, box["height"] / h
    inside = (box["x"] + (w // 4) * sx, box["y"] + (h // 2) * sy)
    out: dict[str, list[float]] = {"flood fill, region": _click_fill(page, "g", "3", *inside, repeat)}
    out["superpixel fill, region"] = _click_fill(page, "s", "4", *inside, repeat)
    page.keyboard.press("b")
    for _ in range(10):
        page.keyboard.press("BracketRight")  # a large brush: 64 px or more
    page.evaluate(WATCH_JS, "pointermove")
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] / 3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 20, box["y"] + 2 * box["height"] / 3, steps=120)
    page.mouse.up()
    out["brush event → screen"] = page.evaluate("window.__bench")
    out["submit → next shown"] = []
    for _ in range(repeat):
        page.evaluate("performance.clearMeasures()")
        out["submit → next shown"].append(page.evaluate(NEXT_SHOWN_JS))
        measures = page.evaluate("performance.getEntriesByType('measure').map(m => [m.name, m.duration])")
        for name, duration in measures:
            key = {"depthal:encode": "PNG encode", "depthal:upload": "upload (PUT)", "depthal:fetch": "fetch + decode",
                   "depthal:prepare": "prepare"}.get(name)  # fmt: skip
            if key:
                out.setdefault(key, []).append(duration)
        page.mouse.click(*inside)  # an edit, so the next submit stores a new version
    out["encode + upload"] = [a + b for a, b in zip(out["PNG encode"], out["upload (PUT)"], strict=True)]
    return out


def asset_bytes() -> tuple[int, int]:
    files = [*STATIC_DIR.glob("*.css"), *STATIC_DIR.glob("js/*.js"), *STATIC_DIR.glob("*.html")]
    raw = sum(f.stat().st_size for f in files)
    return raw, sum(len(gzip.compress(f.read_bytes())) for f in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict[tuple[int, int], dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "data") as server, sync_playwright() as pw:
        lead, annotator = server.user("bench-lead", "lead"), server.user("bench-ann", "annotator")
        assert server.client(ADMIN_TOKEN).get("/users/me").status_code == 200
        browser = launch(pw)
        for h, w in SIZES:
            context = browser.new_context(viewport={"width": 1600, "height": 900})
            page = context.new_page()
            t0 = time.perf_counter()
            results[(h, w)] = measure(page, server, lead, annotator, h, w, args.repeat)
            print(f"# {w}x{h} measured in {time.perf_counter() - t0:.0f} s", flush=True)
            context.close()
        browser.close()

    def cell(values: list[float]) -> str:
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
        return f"{statistics.median(values):.1f} (p95 {p95:.1f})"

    header = " | ".join(f"{w}×{h} median (p95), ms" for h, w in SIZES)
    print(f"\n| measure | {header} | target |\n|---|---|---|---|")
    for name, target in TARGETS.items():
        print(f"| {name} | " + " | ".join(cell(results[s][name]) for s in SIZES) + f" | {target} |")
    raw, packed = asset_bytes()
    print(f"| JS + CSS + HTML | {raw / 1024:.1f} KiB ({packed / 1024:.1f} KiB gzip) | | |")
    regions = ", ".join(f"{w // 2 * h:,} px at {w}×{h}" for h, w in SIZES)
    print(f"\nfilled region: {regions}; brush events: {len(results[SIZES[0]]['brush event → screen'])} per size")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
