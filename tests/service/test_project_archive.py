"""Issue 19, item 9: `depthal project export` / `depthal project import` move one project into another instance
(its own database and storage) and restore every label of every image, by id (the id map), with its history:
each version's pixels, who stored it and when; uploaded images with the same name, neighbours, a video's
sequence and a skip's reason included. A damaged archive is refused naming the problem and leaves nothing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from cli.main import main as cli_main
from service import storage
from service.db.session import session_scope
from service.db.tables import Annotation, FrameSequence, Image, Project, User
from tests.conftest import _configure
from tests.factories import encode_video, id_mask, rgb_image, synth_frames
from tests.service.conftest import Api
from tests.service.test_backup_restore import _empty_restore_database
from tests.service.test_videos import run_import


def _snapshot(project_id: int) -> dict[str, Any]:
    """Everything a team would miss, per image in id order, with storage-independent values."""
    with session_scope() as s:
        images = s.scalars(select(Image).where(Image.project_id == project_id).order_by(Image.id)).all()
        out: dict[str, Any] = {"images": {}, "sequences": []}
        for image in images:
            history = s.execute(
                select(Annotation.version, User.name, Annotation.created_at, Annotation.checksum, Annotation.mask_path)
                .outerjoin(User, User.id == Annotation.annotator_id)
                .where(Annotation.image_id == image.id)
                .order_by(Annotation.version)
            ).all()
            out["images"][image.id] = {
                "name": image.name, "role": image.role, "state": image.state, "skip_reason": image.skip_reason,
                "checksum": image.checksum, "size": (image.width, image.height), "in_sequence": image.sequence_id
                is not None,
                "files": [storage.absolute(p).read_bytes() if p else None
                          for p in (image.path, image.prev_path, image.next_path)],
                "history": [(v, who, when, digest, np.asarray(PILImage.open(storage.absolute(path))).tobytes())
                            for v, who, when, digest, path in history],
            }  # fmt: skip
        for seq in s.scalars(select(FrameSequence).where(FrameSequence.project_id == project_id)):
            folder = storage.absolute(seq.frames_dir)
            files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
            out["sequences"].append((seq.name, seq.checksum, seq.frame_count, seq.intrinsics, files))
        return out


def _another_instance(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the configuration at an empty database of the same backend and an empty storage folder, migrated."""
    url = _empty_restore_database(api.db)
    if api.db.backend == "sqlite":
        (api.db.data_dir.parent / "restored").mkdir(exist_ok=True)
    _configure(monkeypatch, tmp_path / "elsewhere", url)
    assert cli_main(["db", "upgrade"]) == 0


def _project_with_history(api: Api, sent: list, tmp_path: Path) -> int:
    pid = api.project(name="team-a", image_height=32, image_width=64)["id"]
    for k in range(3):  # three uploads all named img.png (the old export could not tell them apart)
        api.upload(pid, rgb_image(10 + k))
    api.upload(pid, rgb_image(20), prev=rgb_image(21), next=rgb_image(22))  # with its neighbours
    video = encode_video(tmp_path / "drive.mp4", synth_frames(12, size=(32, 64)))
    res = api.client.post(f"/projects/{pid}/videos", files={"file": ("drive.mp4", video.read_bytes())},
                          data={"pool_every": "4"}, headers=api.lead)  # fmt: skip
    assert res.status_code == 202, res.text
    assert run_import(sent.pop()[1]).result["pool_images"] == 3

    first = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    assert api.put_mask(first["image_id"], id_mask(1), api.annotator).status_code == 201
    assert api.put_mask(first["image_id"], id_mask(2), api.lead).status_code == 201  # the lead's correction: v2
    second = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator2).json()
    res = api.client.post(f"/leases/{second['id']}/skip", json={"reason": "blurred"}, headers=api.annotator2)
    assert res.status_code == 200, res.text
    ids = [i["id"] for i in api.client.get(f"/projects/{pid}/images", headers=api.lead).json()["data"]]
    video_image = max(ids)  # the video's images came last
    with session_scope() as s:
        image = s.get(Image, video_image)
        width, height, in_sequence = image.width, image.height, image.sequence_id is not None
    assert in_sequence
    labels = np.zeros((height, width), np.uint8)
    labels[: height // 2] = 3
    assert api.put_mask(video_image, id_mask(labels, height, width), api.lead).status_code == 201
    return pid


def test_a_project_moves_to_another_instance_with_every_label_by_id_and_its_history(
    api: Api, sent: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = _project_with_history(api, sent, tmp_path)
    before = _snapshot(pid)
    assert sum(len(i["history"]) for i in before["images"].values()) == 3
    assert [i["state"] for i in before["images"].values()].count("skipped") == 1
    archive = tmp_path / "team-a.zip"
    assert cli_main(["project", "export", str(pid), str(archive)]) == 0, capsys.readouterr().err
    assert "images 7, sequences 1, mask versions 3" in capsys.readouterr().out
    assert cli_main(["project", "export", str(pid), str(archive)]) == 2  # never over a file
    assert "already exists" in capsys.readouterr().err

    _another_instance(api, tmp_path, monkeypatch)
    with session_scope() as s:  # the lead exists in the new instance under the same name; the annotator does not
        s.add(User(name="lead", role="lead"))
        s.add(Project(name="occupies-the-first-id", label_budget=1))
    id_map = tmp_path / "ids.json"
    assert cli_main(["project", "import", str(archive), "--id-map", str(id_map)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "images 7 (2 labeled), sequences 1, mask versions 3" in out and "added inactive (history only): ann\n" in out
    mapping = {int(k): v for k, v in json.loads(id_map.read_text()).items()}
    assert set(mapping) == set(before["images"])

    with session_scope() as s:
        new_pid = s.scalar(select(Project.id).where(Project.name == "team-a"))
        created = s.scalar(select(User).where(User.name == "ann"))
        assert created is not None and not created.is_active and created.role == "annotator"
    after = _snapshot(new_pid)
    for old, new in mapping.items():  # every image, every version by id: pixels, who, when; files byte for byte
        expected = dict(before["images"][old])
        if expected["state"] in ("queued", "leased"):
            expected["state"] = "unlabeled"  # the old instance's queue does not travel
        assert after["images"][new] == expected, old
    assert after["sequences"] == before["sequences"]

    from fastapi.testclient import TestClient

    from service.main import create_app

    corrected = next(old for old, i in before["images"].items() if len(i["history"]) == 2)
    with TestClient(create_app()) as client:
        admin = {"Authorization": "Bearer test-admin-token"}
        got = client.get(f"/images/{mapping[corrected]}/mask", params={"version": 1}, headers=admin)
        assert got.status_code == 200
        assert np.asarray(PILImage.open(__import__("io").BytesIO(got.content))).tolist() == [[1] * 12] * 8

    assert cli_main(["project", "import", str(archive)]) == 2  # the name is taken
    assert "already exists" in capsys.readouterr().err
    assert cli_main(["project", "import", str(archive), "--name", "team-a-copy"]) == 0  # a second, separate copy


def _exported_with_one_label(api: Api, name: str, archive: Path) -> Path:
    """A two-image project, one image labeled by the lead, exported to `archive`."""
    pid = api.project(name=name, pool=2)["id"]
    ids = [i["id"] for i in api.client.get(f"/projects/{pid}/images", headers=api.lead).json()["data"]]
    assert api.put_mask(ids[0], id_mask(4), api.lead).status_code == 201
    assert cli_main(["project", "export", str(pid), str(archive)]) == 0
    return archive


def test_a_damaged_archive_is_refused_and_leaves_nothing(
    api: Api, sent: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _exported_with_one_label(api, "team-b", tmp_path / "good.zip")
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data if not item.filename.startswith("masks/") else id_mask(5))
    misstated = tmp_path / "misstated.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(misstated, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "project.json":
                manifest = json.loads(data)
                manifest["images"][1]["role"] = "banana"
                data = json.dumps(manifest).encode()
            dst.writestr(item, data)
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello")

    _another_instance(api, tmp_path, monkeypatch)
    capsys.readouterr()
    assert cli_main(["project", "import", str(damaged)]) == 2
    assert "does not match its checksum" in capsys.readouterr().err
    assert cli_main(["project", "import", str(misstated)]) == 2
    assert "project.json lacks or misstates 'banana' is not a valid ImageRole" in capsys.readouterr().err
    assert cli_main(["project", "import", str(not_zip)]) == 2
    assert "not a readable zip file" in capsys.readouterr().err
    with session_scope() as s:
        assert s.scalars(select(Project)).all() == [] and s.scalars(select(Image)).all() == []
    assert [p for p in storage.root().rglob("*") if p.is_file()] == []  # no file of the refused imports stays
    assert cli_main(["project", "import", str(good)]) == 0  # the undamaged archive goes in


def test_the_import_flushes_every_file_to_disk_before_its_rows_commit(
    api: Api, sent: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a power cut right after the commit must not leave rows naming files still in the page cache
    archive = _exported_with_one_label(api, "team-c", tmp_path / "c.zip")
    _another_instance(api, tmp_path, monkeypatch)
    events: list[object] = []  # ("sync", files on disk) and "commit", in order
    commit = Session.commit

    def recorded_commit(self: Session) -> None:
        events.append("commit")
        commit(self)

    monkeypatch.setattr("service.project_archive.os.sync", lambda: events.append(("sync", _files())))
    monkeypatch.setattr(Session, "commit", recorded_commit)
    assert cli_main(["project", "import", str(archive)]) == 0
    syncs = [i for i, e in enumerate(events) if e != "commit"]
    assert len(syncs) == 1 and events[syncs[0]] == ("sync", _files())  # once, with every file written
    assert events[syncs[0] + 1] == "commit"  # and right before the rows that name them commit


def _files() -> int:
    return sum(p.is_file() for p in storage.root().rglob("*"))
