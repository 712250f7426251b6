"""The dashboard's "Imported video" card in real Chromium: each sequence with its frames, stride, pool images and
where its intrinsics came from; the default-intrinsics warning shown; a sequence name that is markup shown as text."""

from __future__ import annotations

from typing import Any

from tests.web.harness import WebServer, sign_in, until

XSS = "<img src=x onerror=alert(1)>.mp4"
INSERT = (
    "INSERT INTO frame_sequence (project_id, source, name, checksum, frames_dir, frame_count, frame_stride, "
    "pool_every, "
    "pool_images, width, height, intrinsics, intrinsics_source, warning, created_at) VALUES (:p, 'video', :n, :c, 'x', "
    ':f, 2, 30, :i, 96, 48, \'{"fx": 1, "fy": 1, "u0": 1, "v0": 1}\', :s, :w, CURRENT_TIMESTAMP)'
)


def test_imported_sequences_are_listed_with_their_counts_and_warning(web: WebServer, page: Any) -> None:
    lead = web.user("lead-imports", "lead")
    with web.client(lead) as c:
        pid = c.post("/projects", json={"name": "dashcam", "label_budget": 20}).json()["id"]
    for k, (name, warning) in enumerate([(XSS, "no camera calibration"), ("b.avi", None)]):
        web.sql(
            INSERT, p=pid, n=name, c=f"sum{k}", f=300 + k, i=10 + k, s="default" if warning else "hfov_deg", w=warning
        )
    sign_in(page, web.base, lead, "dashboard")
    until(page, f"[...document.querySelectorAll('option')].some(o => o.value === '{pid}')")
    page.get_by_test_id("project-select").select_option(str(pid))
    until(page, "document.querySelector('[data-testid=imports] table') !== null")
    card = page.get_by_test_id("imports").inner_text()
    assert "2 sequences, 601 frames for depth training" in card
    # cell by cell: a row's innerText separates its cells with tabs only once the table is laid out
    rows = [row.locator("td").all_inner_texts() for row in page.locator("[data-testid=imports] tr:has(td)").all()]
    assert rows[0][:5] == [XSS, "video", "300", "2", "10"]
    assert rows[0][5].startswith("default") and "give hfov_deg or focal_px" in rows[0][5]  # the source, the warning
    assert rows[1][:5] == ["b.avi", "video", "301", "2", "11"] and rows[1][5] == "hfov_deg"
    assert page.evaluate("document.querySelectorAll('img').length") == 0 and page.dialogs == []
