"""Issue 19, item 9: `depthal backup` and `depthal restore` carry every label of every image, by id, with its
history (each version, who stored it, its file), to another data directory and database; a restore never
overwrites a database or storage folder that holds something."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from cli.main import main as cli_main
from service import storage
from service.db.session import session_scope
from service.db.tables import Annotation, Image, Lease
from tests.conftest import Database, _configure
from tests.factories import id_mask
from tests.service.conftest import ADMIN_TOKEN, Api


def _labels() -> dict[int, list[tuple[int, int | None, str, bytes]]]:
    """Per image id: (version, annotator id, checksum, mask file bytes) of every version, oldest first."""
    with session_scope() as s:
        images = s.scalars(select(Image.id).order_by(Image.id)).all()
        rows = s.scalars(select(Annotation).order_by(Annotation.image_id, Annotation.version)).all()
        out: dict[int, list[tuple[int, int | None, str, bytes]]] = {i: [] for i in images}
        for a in rows:
            out[a.image_id].append((a.version, a.annotator_id, a.checksum, storage.absolute(a.mask_path).read_bytes()))
        return out


def _empty_restore_database(db: Database) -> str:
    if db.backend == "sqlite":
        return "sqlite:///" + str(db.data_dir.parent / "restored" / "depthal.sqlite")
    url = make_url(db.url)
    name = f"{url.database}_restore"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def test_backup_restores_every_label_by_id_with_its_history_elsewhere(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = api.project(pool=3, name="to-keep")["id"]
    ids = [i["id"] for i in api.client.get(f"/projects/{pid}/images", headers=api.lead).json()["data"]]
    with session_scope() as s:  # queue them (as a round would) so the annotator can lease one
        for rank, image in enumerate(s.scalars(select(Image).where(Image.id.in_(ids)))):
            image.state, image.queue_rank = "queued", rank
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    assert api.put_mask(lease["image_id"], id_mask(1), api.annotator).status_code == 201
    assert api.put_mask(lease["image_id"], id_mask(2), api.lead).status_code == 201  # the lead's correction: v2
    assert api.put_mask(ids[2], id_mask(5), api.lead).status_code == 201
    before = _labels()
    assert sum(len(v) for v in before.values()) == 3
    backup = tmp_path / "backup"
    assert cli_main(["backup", str(backup)]) == 0, capsys.readouterr().err
    assert cli_main(["backup", str(backup)]) == 2  # never over an earlier backup
    assert "already exists" in capsys.readouterr().err

    restored_url = _empty_restore_database(api.db)
    _configure(monkeypatch, tmp_path / "elsewhere", restored_url)
    assert cli_main(["restore", str(backup)]) == 0, capsys.readouterr().err
    assert _labels() == before  # every version of every image, by id, with who stored it and its file
    with session_scope() as s:
        assert s.get(Lease, lease["id"]).status == "submitted"
    from service.main import create_app

    with TestClient(create_app()) as client:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        got = client.get(f"/images/{lease['image_id']}/mask", params={"version": 1}, headers=admin)
        assert got.status_code == 200 and got.content == before[lease["image_id"]][0][3]
        assert client.get(f"/projects/{pid}", headers=api.lead).status_code == 200  # tokens and members came too
    assert cli_main(["restore", str(backup)]) == 2  # the database (or storage) now holds something
    assert "restore into" in capsys.readouterr().err
