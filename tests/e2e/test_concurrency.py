"""Issue 2's "Done when": 32 simulated annotators over HTTP against a real uvicorn server on PostgreSQL, each
looping next → mask, some leaving their lease to expire (short TTL). Every queued image is labeled exactly once,
no image is ever leased to two people at a time, and no mask is lost, duplicated or stored for the wrong image."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from service import storage
from service.db.session import session_scope
from service.db.tables import Annotation, Image, ImageState, Lease, LeaseStatus, Role
from tests.conftest import REDIS_URL, Database
from tests.e2e.compose import depthal_executable
from tests.e2e.server import Server, free_port
from tests.factories import make_project, make_token, mask_png, queue_all
from tests.worker.procs import worker_env

pytestmark = [pytest.mark.postgres]

ANNOTATORS = 32
FLAKY = 8  # annotators who walk away from their first lease and come back after it expired
IMAGES = 96
TTL = 2  # seconds
DEADLINE = 120  # seconds: the loop is bounded even if something goes wrong


def _class_for(image_id: int) -> int:
    return image_id % 19  # the mask's content names its image: a mix-up shows in the stored file


def test_32_annotators_label_every_image_exactly_once(postgres_database: Database, tmp_path) -> None:
    project_id = make_project(IMAGES)
    assert queue_all(project_id) == IMAGES
    tokens = [make_token(f"annotator{k:02d}", Role.ANNOTATOR) for k in range(ANNOTATORS)]
    port = free_port()
    env = worker_env(
        data_dir=str(postgres_database.data_dir), database_url=postgres_database.url, broker_url=REDIS_URL,
        env="test", secret_key="test-secret-key", admin_token="test-admin-token", lease_ttl_seconds=str(TTL),
    )  # fmt: skip
    argv = [*depthal_executable(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]

    lock = threading.Lock()
    submitted: list[tuple[int, int]] = []  # (image id, annotator index) per accepted mask
    leases: dict[int, tuple[int, int, datetime, datetime]] = {}  # lease id -> image, annotator, received, expires
    late: list[int] = []  # status codes of masks sent for an expired lease
    errors: list[str] = []

    def annotate(k: int, base: str) -> None:
        walked_away = k >= FLAKY
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[k]}"}, timeout=30) as http:
            end = time.monotonic() + DEADLINE
            while time.monotonic() < end:
                with lock:
                    if len(submitted) >= IMAGES:
                        return
                r = http.post(f"/projects/{project_id}/queue/next")
                if r.status_code == 204:  # everything leased: wait for submissions or expiries
                    time.sleep(0.05)
                    continue
                if r.status_code != 200:
                    errors.append(f"next {r.status_code}: {r.text}")
                    return
                received = datetime.now(UTC)  # the annotator holds the image from here (same clock as the server)
                lease = r.json()
                image_id = lease["image_id"]
                with lock:
                    if lease["id"] not in leases:
                        leases[lease["id"]] = (image_id, k, received, datetime.fromisoformat(lease["expires_at"]))
                png = mask_png(lease["image"]["width"], lease["image"]["height"], _class_for(image_id))
                if not walked_away:
                    walked_away = True
                    time.sleep(TTL + 0.5)
                    r = http.put(f"/images/{image_id}/mask", files={"file": ("m.png", png, "image/png")})
                    with lock:
                        late.append(r.status_code)
                    continue
                r = http.put(f"/images/{image_id}/mask", files={"file": ("m.png", png, "image/png")})
                if r.status_code != 201:
                    errors.append(f"mask {r.status_code} for image {image_id} by annotator {k}: {r.text}")
                    return
                with lock:
                    submitted.append((image_id, k))
            errors.append(f"annotator {k} ran out of time")

    with Server(argv, env, tmp_path / "api.log", port) as server:
        threads = [threading.Thread(target=annotate, args=(k, server.base)) for k in range(ANNOTATORS)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(DEADLINE + 30)
        elapsed = time.monotonic() - started

    assert errors == [] and not any(t.is_alive() for t in threads)
    # The walked-away annotators' late masks were all refused (410 expired, or 403 once someone else holds it).
    assert len(late) == FLAKY and set(late) <= {403, 410}, late

    # Client side: every image accepted exactly once.
    images = sorted(i for i, _ in submitted)
    with session_scope() as session:
        all_ids = sorted(session.scalars(select(Image.id).where(Image.project_id == project_id)))
        states = set(session.scalars(select(Image.state).where(Image.project_id == project_id)))
        annotations = session.scalars(select(Annotation)).all()
        db_leases = session.scalars(select(Lease)).all()
        by_lease = {a.lease_id: a for a in annotations}
        assert images == all_ids and states == {ImageState.LABELED}

        # Server side: one annotation per image, version 1, from the holder of a submitted lease.
        assert sorted(a.image_id for a in annotations) == all_ids and {a.version for a in annotations} == {1}
        submitted_leases = [le for le in db_leases if le.status == LeaseStatus.SUBMITTED]
        assert sorted(le.image_id for le in submitted_leases) == all_ids
        for le in submitted_leases:
            assert by_lease[le.id].image_id == le.image_id and by_lease[le.id].annotator_id == le.annotator_id
        assert not [le for le in db_leases if le.status == LeaseStatus.OPEN]
        assert sum(le.status == LeaseStatus.EXPIRED for le in db_leases) >= FLAKY
        # Each stored mask holds the content sent for its own image.
        for a in annotations:
            stored = np.asarray(PILImage.open(storage.absolute(a.mask_path)))
            assert stored[0, 0] == 255 and (stored.reshape(-1)[1:] == _class_for(a.image_id)).all()

    # No double lease: nobody learns of a lease on an image before the previous holder's lease has expired (the
    # previous holder never submitted, or the image would be labeled and never leased again). The time a lease
    # is known is when its response arrived: the server's `issued_at` is taken at the start of the request, and
    # under load the grant itself can come later, after another request expired the previous lease.
    per_image: dict[int, list[tuple[datetime, datetime, int]]] = defaultdict(list)
    for image_id, k, received, expires in leases.values():
        per_image[image_id].append((received, expires, k))
    for image_id, spans in per_image.items():
        spans.sort()
        for (_, prev_expires, prev_k), (received, _, k) in zip(spans, spans[1:], strict=False):
            assert received >= prev_expires, f"image {image_id}: leased to {k} while {prev_k} held it"
    assert len(leases) == len(db_leases)
    assert elapsed < DEADLINE
