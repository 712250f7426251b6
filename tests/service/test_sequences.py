"""The `sequence` layout over HTTP on SQLite and PostgreSQL: folders of numbered PNG/JPEG frames of the synthetic
world under the import root, one sequence per folder, imported by the `import_frames` job (run in-process); natural
order, calibration files, and every bad folder refused with nothing stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from contracts.frame_folders import natural_key
from service.config import get_settings
from service.db.tables import JobStatus
from tests.factories import synth_frames
from tests.service.conftest import Api
from tests.service.test_videos import _nearest, _pixels, nothing_stored, run_import


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return synth_frames(12)


def write_folder(folder: Path, frames: list[np.ndarray], names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for rgb, name in zip(frames, names, strict=True):
        PILImage.fromarray(rgb).save(folder / name, quality=95)
    return folder


def import_root() -> Path:
    root = get_settings().import_root
    assert root is not None
    return root


def start(api: Api, pid: int, path: str, **frames: object) -> object:
    return api.client.post(f"/projects/{pid}/images/import", json={"path": path, "layout": "sequence",
                           "frames": frames}, headers=api.lead)  # fmt: skip


def test_natural_order() -> None:
    names = ["frame10.png", "frame9.png", "Frame1.png", "frame100.png"]
    assert sorted(names, key=natural_key) == ["Frame1.png", "frame9.png", "frame10.png", "frame100.png"]


def test_each_folder_is_a_sequence_in_natural_order_with_its_calibration(
    api: Api, sent: list, frames: list[np.ndarray]
) -> None:
    root = import_root()
    write_folder(root / "drives" / "d1", frames, [f"frame{i}.png" for i in range(12)])  # frame10 after frame9
    d2 = write_folder(root / "drives" / "d2", frames[:8], [f"{i * 5:06d}.jpg" for i in range(8)])  # every 5th frame
    (d2 / "intrinsics.json").write_text('{"fx": 80, "fy": 81, "u0": 47, "v0": 23}')
    pid = api.project()["id"]
    res = start(api, pid, "drives", pool_every=4, max_width=48)
    assert res.status_code == 202, res.text
    assert res.json()["warnings"]  # d1 has no calibration
    job = run_import(res.json()["job"]["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    seqs = api.client.get(f"/projects/{pid}/sequences", headers=api.lead).json()["data"]
    assert [(s["name"], s["source"], s["frame_count"]) for s in seqs] == [("d1", "frames", 12), ("d2", "frames", 8)]
    assert seqs[0]["intrinsics_source"] == "default" and seqs[0]["warning"]
    # the calibration is in pixels of the folder's 96-px frames; stored at 48 px, K halves (pixel centres kept)
    assert seqs[1]["intrinsics_source"] == "calibration" and seqs[1]["warning"] is None
    assert seqs[1]["intrinsics"] == pytest.approx({"fx": 40, "fy": 40.5, "u0": 23.25, "v0": 11.25})
    small = [np.asarray(PILImage.fromarray(f).resize((48, 24), PILImage.BOX), dtype=np.float64) for f in frames]
    images = api.client.get(f"/projects/{pid}/images", headers=api.lead).json()["data"]
    assert [i["name"] for i in images] == ["d1@000002", "d1@000006", "d1@000010", "d2@000002", "d2@000006"]
    for image in images:
        t = int(image["name"].rsplit("@", 1)[1])
        assert _nearest(_pixels(api, f"/images/{image['id']}/file"), small) == t
        assert _nearest(_pixels(api, f"/images/{image['id']}/neighbours/prev"), small) == t - 1
        assert _nearest(_pixels(api, f"/images/{image['id']}/neighbours/next"), small) == t + 1
    res = start(api, pid, "drives/d1")  # the same frames again
    job = run_import(res.json()["job"]["id"])
    assert job.status == JobStatus.FAILED and "d1 duplicates 'd1', already imported as sequence" in job.error


@pytest.mark.parametrize(
    ("case", "status", "needle"),
    [
        ("gap", 422, "frame numbers jump from 000004.png to 000006.png (the folder steps by 1)"),
        ("two_frames", 422, "has 2 frame(s); a sequence needs at least 3"),
        ("bad_calibration", 422, "intrinsics.json in seq/ does not parse"),
        ("no_frames", 422, "no frames (.jpeg, .jpg, .png)"),
        ("outside", 403, "outside the import root"),
        ("sizes", 202, "000003.png is 48x24 but 000000.png is 96x48; a sequence's frames must all have one size"),
        ("truncated", 202, "000005.png is not a readable PNG/JPEG image (truncated or corrupt)"),
    ],
)
def test_bad_folders_are_refused_with_nothing_stored(
    api: Api, sent: list, frames: list[np.ndarray], tmp_path: Path, case: str, status: int, needle: str
) -> None:
    folder, names = import_root() / "seq", [f"{i:06d}.png" for i in range(8)]
    path = "seq"
    if case == "gap":
        write_folder(folder, frames[:8], names[:5] + [f"{i:06d}.png" for i in (6, 7, 8)])
    elif case == "two_frames":
        write_folder(folder, frames[:2], names[:2])
    elif case == "bad_calibration":
        write_folder(folder, frames[:8], names)
        (folder / "intrinsics.json").write_text('{"fx": 1, "fy": "wide"')
    elif case == "no_frames":
        folder.mkdir()
        (folder / "notes.txt").write_text("nothing here")
    elif case == "outside":
        write_folder(tmp_path / "elsewhere", frames[:8], names)
        path = str(tmp_path / "elsewhere")
    elif case == "sizes":
        write_folder(folder, frames[:8], names)
        PILImage.fromarray(frames[3]).resize((48, 24)).save(folder / names[3])
    elif case == "truncated":
        write_folder(folder, frames[:8], names)
        data = (folder / names[5]).read_bytes()
        (folder / names[5]).write_bytes(data[: len(data) // 2])
    pid = api.project()["id"]
    res = start(api, pid, path)
    assert res.status_code == status, res.text
    if status == 202:
        job = run_import(res.json()["job"]["id"])
        assert job.status == JobStatus.FAILED and needle in job.error, job.error
    else:
        assert needle in res.json()["detail"] and sent == []
    nothing_stored(pid)


KITTI_CALIB = """calib_time: 09-Jan-2012 13:57:47
corner_dist: 9.950000e-02
S_rect_02: 9.600000e+01 4.800000e+01
P_rect_02: 7.0e+01 0.0e+00 4.6e+01 4.5e+01 0.0e+00 7.1e+01 2.2e+01 -1.0e-01 0.0e+00 0.0e+00 1.0e+00 2.7e-03
"""


@pytest.mark.parametrize("calibration", ["good", "broken"])
def test_kitti_raw_drives_take_their_intrinsics_from_the_date_calibration(
    api: Api, sent: list, frames: list[np.ndarray], calibration: str
) -> None:
    date = import_root() / "raw" / "2011_09_26"
    drive = date / "2011_09_26_drive_0001_sync" / "image_02" / "data"
    write_folder(drive, frames[:10], [f"{i:010d}.png" for i in range(10)])
    write_folder(date / "2011_09_26_drive_0001_sync" / "image_03" / "data", frames[:3], ["a.png", "b.png", "c.png"])
    text = KITTI_CALIB if calibration == "good" else KITTI_CALIB.replace(" 2.7e-03", "")
    (date / "calib_cam_to_cam.txt").write_text(text)
    pid = api.project()["id"]
    res = api.client.post(f"/projects/{pid}/images/import", json={"path": "raw", "layout": "kitti_raw",
                          "frames": {"pool_every": 5}}, headers=api.lead)  # fmt: skip
    if calibration == "broken":
        assert res.status_code == 422 and "2011_09_26/calib_cam_to_cam.txt does not parse" in res.json()["detail"]
        nothing_stored(pid)
        return
    assert res.status_code == 202 and res.json()["warnings"] == [], res.text
    job = run_import(res.json()["job"]["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    (seq,) = api.client.get(f"/projects/{pid}/sequences", headers=api.lead).json()["data"]  # image_03 is not read
    name = "2011_09_26/2011_09_26_drive_0001_sync"
    assert (seq["name"], seq["source"], seq["frame_count"]) == (name, "kitti_raw", 10)
    assert seq["intrinsics_source"] == "calibration"
    assert seq["intrinsics"] == pytest.approx({"fx": 70, "fy": 71, "u0": 46, "v0": 22})
    images = api.client.get(f"/projects/{pid}/images", headers=api.lead).json()["data"]
    assert [i["name"] for i in images] == [f"{name}@000002", f"{name}@000007"]


def test_cityscapes_sequence_snippets_are_depth_material_without_pool_images(api: Api, sent: list) -> None:
    from models.data.synth.world import generate_world

    world = generate_world(import_root() / "world", sequences=2, size=(32, 64), seed=1, val_fraction=0.5, frames=5)
    pid = api.project()["id"]
    res = api.client.post(f"/projects/{pid}/images/import", json={"path": "world", "layout": "cityscapes_sequence"},
                          headers=api.lead)  # fmt: skip
    assert res.status_code == 202 and res.json()["warnings"] == [], res.text  # every snippet has its camera json
    job = run_import(res.json()["job"]["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["frames"] == 10 and job.result["pool_images"] == 0
    seqs = api.client.get(f"/projects/{pid}/sequences", headers=api.lead).json()["data"]
    names = sorted(f"{p.parent.parent.name}/{p.name.rsplit('_', 2)[0]}" for p in
                   (world.out / "leftImg8bit").glob("*/*/*.png"))  # fmt: skip
    assert sorted(s["name"] for s in seqs) == names and {s["source"] for s in seqs} == {"cityscapes"}
    assert all(s["frame_count"] == 5 and s["intrinsics_source"] == "calibration" for s in seqs)
    assert seqs[0]["intrinsics"]["fx"] == pytest.approx(2262.52 / 2048 * 64)  # the world's K at its own size
    res = api.client.post(f"/projects/{pid}/images/import", json={"path": "x", "layout": "cityscapes_sequence"},
                          headers=api.lead)  # fmt: skip
    assert res.status_code == 404
