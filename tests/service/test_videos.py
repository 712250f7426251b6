"""Video import over HTTP on SQLite and PostgreSQL: real H.264 (.mp4) and MJPEG (.avi) files encoded with PyAV from
the synthetic world's frames, uploaded or found under the import root, decoded by the `import_frames` job (run here
in-process; the broker is replaced by a recorder). Frames, pool images, neighbours and intrinsics are checked
against the frames that were encoded; every bad input is refused with nothing stored."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from contracts.camera import DEFAULT_WARNING, FX_PER_WIDTH
from service.config import get_settings
from service.db.session import session_scope
from service.db.tables import FrameSequence, Image, JobStatus
from tests.factories import encode_png, encode_video, load_job, synth_frames
from tests.service.conftest import Api

N_FRAMES = 12
SIZE = (48, 96)  # H, W


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return synth_frames(N_FRAMES, SIZE)


def run_import(job_id: int) -> Any:
    from worker import import_frames
    from worker.runner import run_job

    run_job(job_id, import_frames.run)
    return load_job(job_id)


def upload(api: Api, pid: int, name: str, data: bytes, **form: Any) -> Any:
    return api.client.post(f"/projects/{pid}/videos", files={"file": (name, data)},
                           data={k: str(v) for k, v in form.items()}, headers=api.lead)  # fmt: skip


def _pixels(api: Api, url: str) -> np.ndarray:
    res = api.client.get(url, headers=api.annotator)
    assert res.status_code == 200, res.text
    return np.asarray(PILImage.open(io.BytesIO(res.content)).convert("RGB"), dtype=np.float64)


def _nearest(image: np.ndarray, frames: list[np.ndarray]) -> int:
    """Which encoded frame an imported one is (mean absolute difference): order and neighbours, checked."""
    return int(np.argmin([np.abs(image - f.astype(np.float64)).mean() for f in frames]))


def nothing_stored(pid: int) -> None:
    with session_scope() as s:
        assert s.query(FrameSequence).count() == 0 and s.query(Image).count() == 0
    project = get_settings().storage_dir / "projects" / str(pid)  # type: ignore[operator]
    assert not [p for p in project.rglob("*") if p.is_file()] if project.exists() else True


@pytest.mark.parametrize(("name", "codec"), [("drive.mp4", "h264"), ("drive.avi", "mjpeg")])
def test_upload_stores_every_frame_and_samples_the_pool_with_neighbours(
    api: Api, sent: list, frames: list[np.ndarray], tmp_path: Path, name: str, codec: str
) -> None:
    pid = api.project()["id"]
    data = encode_video(tmp_path / name, frames, codec=codec).read_bytes()
    res = upload(api, pid, name, data, pool_every=4)
    assert res.status_code == 202, res.text
    body = res.json()
    assert body["warnings"] == [DEFAULT_WARNING] and body["job"]["kind"] == "import_frames"
    assert sent == [("import_frames", body["job"]["id"])]
    importing = api.client.get(f"/projects/{pid}/progress", headers=api.lead).json()["importing"]
    assert [(j["job_id"], j["kind"], j["status"]) for j in importing] == [
        (body["job"]["id"], "import_frames", "queued")
    ]
    job = run_import(body["job"]["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["frames"] == N_FRAMES and job.result["pool_images"] == 3 and job.result["warnings"]

    seqs = api.client.get(f"/projects/{pid}/sequences", headers=api.annotator).json()
    assert seqs["count"] == 1
    seq = seqs["data"][0]
    assert (seq["name"], seq["source"], seq["frame_count"], seq["pool_images"]) == (name, "video", N_FRAMES, 3)
    assert (seq["width"], seq["height"], seq["intrinsics_source"]) == (96, 48, "default")
    assert seq["intrinsics"] == pytest.approx(
        {"fx": FX_PER_WIDTH * 96, "fy": FX_PER_WIDTH * 96, "u0": 47.5, "v0": 23.5}
    )

    images = api.client.get(f"/projects/{pid}/images", headers=api.annotator).json()["data"]
    assert [i["name"] for i in images] == [f"{name}@000002", f"{name}@000006", f"{name}@000010"]
    for image, t in zip(images, (2, 6, 10), strict=True):
        assert image["has_prev"] and image["has_next"] and image["intrinsics"] == seq["intrinsics"]
        assert image["state"] == "unlabeled" and (image["width"], image["height"]) == (96, 48)
        centre = _pixels(api, f"/images/{image['id']}/file")
        assert _nearest(centre, frames) == t and np.abs(centre - frames[t]).mean() < 10  # of 255: lossy twice
        assert _nearest(_pixels(api, f"/images/{image['id']}/neighbours/prev"), frames) == t - 1
        assert _nearest(_pixels(api, f"/images/{image['id']}/neighbours/next"), frames) == t + 1

    progress = api.client.get(f"/projects/{pid}/progress", headers=api.lead).json()
    assert (progress["sequences"], progress["frames"], progress["unlabeled"]) == (1, N_FRAMES, 3)
    assert progress["imports"][0]["pool_images"] == 3 and progress["imports"][0]["warning"] == DEFAULT_WARNING
    assert progress["importing"] == []
    from cli.commands.progress import render

    text = render(api.client.get(f"/projects/{pid}", headers=api.lead).json(), progress)
    assert f"video   1 sequences, {N_FRAMES} frames for depth, 3 pool images" in text


def test_rotation_metadata_fov_stride_and_resize(
    api: Api, sent: list, frames: list[np.ndarray], tmp_path: Path
) -> None:
    """Stored turned a quarter, shown upright by its metadata: imported upright, every 2nd frame, half size, and
    K from the 90° field of view on the displayed width, scaled with the frames."""
    pid = api.project()["id"]
    data = encode_video(tmp_path / "phone.mp4", frames, rotation=90).read_bytes()
    res = upload(api, pid, "phone.mp4", data, frame_stride=2, pool_every=4, hfov_deg=90, max_width=48)
    assert res.status_code == 202 and res.json()["warnings"] == []
    job = run_import(res.json()["job"]["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    seq = api.client.get(f"/projects/{pid}/sequences", headers=api.lead).json()["data"][0]
    assert (seq["frame_count"], seq["width"], seq["height"], seq["frame_stride"]) == (6, 48, 24, 2)
    # fx = (96 / 2) / tan(45°) = 48 px on the displayed 96-px width, halved with the frames
    assert seq["intrinsics"] == pytest.approx({"fx": 24.0, "fy": 24.0, "u0": 23.5, "v0": 11.5})
    assert seq["intrinsics_source"] == "hfov_deg" and seq["warning"] is None
    small = [np.asarray(PILImage.fromarray(f).resize((48, 24), PILImage.BOX), dtype=np.float64) for f in frames]
    images = api.client.get(f"/projects/{pid}/images", headers=api.lead).json()["data"]
    # stored positions 1, 3 (source frames 2, 6: the middle of each 4-frame window), position 5 is the last
    assert [i["name"] for i in images] == ["phone.mp4@000002", "phone.mp4@000006"]
    for image, t in zip(images, (2, 6), strict=True):
        assert _nearest(_pixels(api, f"/images/{image['id']}/file"), small) == t
        assert _nearest(_pixels(api, f"/images/{image['id']}/neighbours/prev"), small) == t - 2


def test_variable_frame_rate_is_accepted(api: Api, sent: list, frames: list[np.ndarray], tmp_path: Path) -> None:
    pid = api.project()["id"]
    durations = [20, 50] * (N_FRAMES // 2)  # 50 fps and 20 fps alternating
    data = encode_video(tmp_path / "vfr.mkv", frames, frame_ms=durations).read_bytes()
    job = run_import(upload(api, pid, "vfr.mkv", data, pool_every=6, focal_px=100).json()["job"]["id"])
    assert job.status == JobStatus.SUCCEEDED and job.result["frames"] == N_FRAMES, job.error
    seq = api.client.get(f"/projects/{pid}/sequences", headers=api.lead).json()["data"][0]
    assert seq["intrinsics"]["fx"] == 100 and seq["intrinsics_source"] == "focal_px"


def test_server_side_video_layout_imports_each_file_as_a_sequence(
    api: Api, sent: list, frames: list[np.ndarray]
) -> None:
    root = get_settings().import_root
    assert root is not None
    (root / "cams").mkdir()
    encode_video(root / "cams" / "a.mp4", frames)
    encode_video(root / "cams" / "b.avi", frames[::-1], codec="mjpeg")
    (root / "cams" / "notes.txt").write_text("not a video, not picked: only video suffixes are")
    pid = api.project()["id"]
    res = api.client.post(f"/projects/{pid}/images/import", json={"path": "cams", "layout": "video",
                          "frames": {"pool_every": 10}}, headers=api.lead)  # fmt: skip
    assert res.status_code == 202, res.text
    job = run_import(res.json()["job"]["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["frames"] == 2 * N_FRAMES and job.result["pool_images"] == 2  # frame 5 of each (15: past the end)
    seqs = api.client.get(f"/projects/{pid}/sequences", headers=api.lead).json()["data"]
    assert [s["name"] for s in seqs] == ["a.mp4", "b.avi"]
    assert (root / "cams" / "a.mp4").exists()  # server files are read, never moved
    res = api.client.post(f"/projects/{pid}/images/import", json={"path": "cams/a.mp4", "layout": "video"},
                          headers=api.lead)  # fmt: skip
    assert res.status_code == 409 and "already imported as sequence" in res.json()["detail"]


def _truncated(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) * 2 // 3]


def _audio_only(path: Path) -> bytes:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path.read_bytes()


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("truncated_mp4", "cannot be read as a video"),
        ("truncated_avi", "is truncated: its header announces 12 frames"),
        ("audio_only", "has no video stream (its streams: audio pcm_s16le)"),
        ("unknown_codec", "video codec (FourCC 'XVQZ') is not one FFmpeg can decode"),
        ("two_frames", "has 2 frame(s) to store (frame_stride 1); at least 3 are needed"),
    ],
)
def test_bad_videos_fail_their_job_and_leave_nothing(
    api: Api, sent: list, frames: list[np.ndarray], tmp_path: Path, case: str, needle: str
) -> None:
    pid = api.project()["id"]
    mp4, avi = encode_video(tmp_path / "a.mp4", frames), encode_video(tmp_path / "a.avi", frames, codec="mjpeg")
    data = {
        "truncated_mp4": lambda: _truncated(mp4),
        "truncated_avi": lambda: _truncated(avi),
        "audio_only": lambda: _audio_only(tmp_path / "sound.mkv"),
        "unknown_codec": lambda: avi.read_bytes().replace(b"MJPG", b"XVQZ"),
        "two_frames": lambda: encode_video(tmp_path / "b.mp4", frames[:2]).read_bytes(),
    }[case]()
    res = upload(api, pid, f"{case}.avi", data)
    assert res.status_code == 202, res.text
    job = run_import(res.json()["job"]["id"])
    assert job.status == JobStatus.FAILED and needle in job.error, job.error
    nothing_stored(pid)


@pytest.mark.parametrize(
    ("name", "data", "form", "status", "needle"),
    [
        ("clip.mp4", encode_png(np.zeros((8, 8, 3), np.uint8)), {}, 422, "is a PNG image, not a video"),
        ("clip.mp4", b"frame 1\nframe 2\n", {}, 422, "is a text file, not a video"),
        ("clip.mp4", b"", {}, 422, "is empty"),
        ("clip.mp4", b"\x00\x01\x02" * 100, {}, 422, "not a video container depthal recognises"),
        ("clip.mp4", b"....ftyp", {"hfov_deg": 0}, 422, "hfov_deg"),
        ("clip.mp4", b"....ftyp", {"hfov_deg": 180}, 422, "hfov_deg"),
        ("clip.mp4", b"....ftyp", {"hfov_deg": "nan"}, 422, "hfov_deg"),
        ("clip.mp4", b"....ftyp", {"hfov_deg": 60, "focal_px": 500}, 422, "not both"),
        ("clip.mp4", b"....ftyp", {"frame_stride": 0}, 422, "frame_stride"),
        ("clip.mp4", b"....ftyp", {"pool_every": "x"}, 422, "pool_every"),
        ("..", b"hello", {}, 422, ".. is a text file"),  # a name is shown, never used as a path
        ("", b"hello", {}, 422, "Expected UploadFile"),  # no file name: a form field, not a file
    ],
)
def test_bad_uploads_are_refused_at_the_door(
    api: Api, sent: list, name: str, data: bytes, form: dict, status: int, needle: str
) -> None:
    pid = api.project()["id"]
    res = upload(api, pid, name, data, **form)
    assert res.status_code == status and needle in res.text, res.text
    assert sent == []
    nothing_stored(pid)


def test_duplicates_are_refused_naming_the_earlier_import(
    api: Api, sent: list, frames: list[np.ndarray], tmp_path: Path
) -> None:
    pid = api.project()["id"]
    data = encode_video(tmp_path / "a.mp4", frames).read_bytes()
    first = upload(api, pid, "a.mp4", data).json()["job"]["id"]
    res = upload(api, pid, "again.mp4", data)  # while the first is still queued
    assert res.status_code == 409 and f"duplicates 'a.mp4', being imported by job {first}" in res.json()["detail"]
    assert run_import(first).status == JobStatus.SUCCEEDED
    res = upload(api, pid, "again.mp4", data)
    assert res.status_code == 409 and "duplicates 'a.mp4', already imported as sequence" in res.json()["detail"]
    assert len(sent) == 1
    videos = get_settings().storage_dir / "projects" / str(pid) / "videos"  # type: ignore[operator]
    assert len([p for p in videos.rglob("*") if p.is_file()]) == 1  # the refused uploads were not kept


def test_paths_outside_the_import_root_are_forbidden(api: Api, sent: list, tmp_path: Path) -> None:
    pid = api.project()["id"]
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes(b"....ftyp")
    for path in (str(outside), "../elsewhere.mp4"):
        res = api.client.post(f"/projects/{pid}/images/import", json={"path": path, "layout": "video"},
                              headers=api.lead)  # fmt: skip
        assert res.status_code == 403 and "outside the import root" in res.json()["detail"], res.text
    assert sent == []
    nothing_stored(pid)


def test_video_uploads_have_their_own_size_limit(api: Api, sent: list, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = api.project()["id"]
    monkeypatch.setenv("DEPTHAL_MAX_VIDEO_BYTES", "1000")
    get_settings.cache_clear()
    res = upload(api, pid, "big.mp4", b"....ftyp" + b"\x00" * 2000)
    assert res.status_code == 413 and "upload limit of 1000 bytes" in res.json()["detail"]
    # streamed without a length: cut off as it passes the limit
    body = iter([b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n', b"\x00" * 3000])
    res = api.client.post(f"/projects/{pid}/videos", content=body, headers={**api.lead,
                          "Content-Type": "multipart/form-data; boundary=b"})  # fmt: skip
    assert res.status_code == 413
    assert sent == []
    nothing_stored(pid)


def test_frame_options_are_refused_for_image_layouts(api: Api, sent: list) -> None:
    pid = api.project()["id"]
    body = {"path": "x", "layout": "plain", "frames": {"pool_every": 5}}
    res = api.client.post(f"/projects/{pid}/images/import", json=body, headers=api.lead)
    assert res.status_code == 422 and "frames options apply to the video, sequence, kitti_raw" in res.text


def test_cancelled_imports_leave_nothing(
    api: Api, sent: list, frames: list[np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled while queued (the API removes the upload) and while decoding (the job removes its frames too)."""
    from worker import import_frames

    pid = api.project()["id"]
    data = encode_video(tmp_path / "a.mp4", frames).read_bytes()
    queued = upload(api, pid, "a.mp4", data).json()["job"]["id"]
    assert api.client.post(f"/jobs/{queued}/cancel", headers=api.lead).json()["status"] == "cancelled"
    assert run_import(queued).status == JobStatus.CANCELLED
    nothing_stored(pid)

    running = upload(api, pid, "a.mp4", data).json()["job"]["id"]  # no longer a duplicate: nothing was imported
    real_store = import_frames.store_frames

    def cancel_midway(frames_in, folder, **kw):  # the lead cancels while the frames are being written
        def cancelling():
            for n, frame in enumerate(frames_in):
                if n == 5:
                    api.client.post(f"/jobs/{running}/cancel", headers=api.lead)
                yield frame

        return real_store(cancelling(), folder, **kw)

    monkeypatch.setattr(import_frames, "store_frames", cancel_midway)
    assert run_import(running).status == JobStatus.CANCELLED
    nothing_stored(pid)


def test_a_file_name_is_never_a_path(api: Api, sent: list, frames: list[np.ndarray], tmp_path: Path) -> None:
    pid = api.project()["id"]
    data = encode_video(tmp_path / "a.mp4", frames).read_bytes()
    job = run_import(upload(api, pid, "..", data).json()["job"]["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    seq = api.client.get(f"/projects/{pid}/sequences", headers=api.lead).json()["data"][0]
    assert seq["name"] == ".."
    videos = get_settings().storage_dir / "projects" / str(pid) / "videos"  # type: ignore[operator]
    assert [p.name for p in videos.rglob("*") if p.is_file()] == ["video"]


def test_an_attempt_taken_for_dead_leaves_the_files_to_the_newer_one(
    api: Api, sent: list, frames: list[np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import update

    from service.db.tables import Job
    from worker import import_frames
    from worker.runner import SUPERSEDED, run_job

    pid = api.project()["id"]
    job_id = upload(api, pid, "a.mp4", encode_video(tmp_path / "a.mp4", frames).read_bytes()).json()["job"]["id"]
    real_store = import_frames.store_frames

    def superseded_midway(frames_in, folder, **kw):  # another worker starts attempt 2 meanwhile
        with session_scope() as s:
            s.execute(update(Job).where(Job.id == job_id).values(attempt=Job.attempt + 1))
        return real_store(frames_in, folder, **kw)

    monkeypatch.setattr(import_frames, "store_frames", superseded_midway)
    assert run_job(job_id, import_frames.run) == SUPERSEDED
    project = get_settings().storage_dir / "projects" / str(pid)  # type: ignore[operator]
    assert len(list((project / "videos").rglob("video.mp4"))) == 1  # the upload, still there for attempt 2
    assert len(list((project / "frames").rglob("*.jpg"))) == N_FRAMES


def test_pool_per_minute_follows_the_frame_rate(api: Api, sent: list, frames: list[np.ndarray], tmp_path: Path) -> None:
    pid = api.project()["id"]
    data = encode_video(tmp_path / "a.mp4", frames).read_bytes()  # 30 fps: 450 per minute is one per 4 frames
    assert upload(api, pid, "a.mp4", data, pool_per_minute=450, pool_every=4).status_code == 422  # one or the other
    job = run_import(upload(api, pid, "a.mp4", data, pool_per_minute=450).json()["job"]["id"])
    assert job.status == JobStatus.SUCCEEDED and job.result["pool_images"] == 3, job.error
    seq = api.client.get(f"/projects/{pid}/sequences", headers=api.lead).json()["data"][0]
    assert seq["pool_every"] == 4
    root = get_settings().import_root
    assert root is not None
    (root / "f").mkdir()
    for k in range(3):
        (root / "f" / f"{k}.png").write_bytes(encode_png(frames[k]))
    res = api.client.post(f"/projects/{pid}/images/import", json={"path": "f", "layout": "sequence",
                          "frames": {"pool_per_minute": 2}}, headers=api.lead)  # fmt: skip
    assert res.status_code == 422 and "frame folders do not have" in res.json()["detail"]
