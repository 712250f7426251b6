"""The queue functions under contention (threads, no HTTP): no image leased twice, every image labeled once.
The HTTP-level 32-annotator test with expiring leases lives with the worker/benchmark work."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import queue
from service.crud.annotations import submit_mask
from service.db.base import utcnow
from service.db.session import get_engine, session_scope
from service.db.tables import Annotation, Image, Lease, User
from tests.factories import id_mask, rgb_image
from tests.service.conftest import Api

N_THREADS, N_IMAGES = 12, 36


def test_concurrent_next_and_submit(api: Api) -> None:
    pid = api.project(label_budget=100)["id"]
    for i in range(N_IMAGES):
        api.upload(pid, rgb_image(i))
    for i in range(N_THREADS):
        api.user(f"t{i}", "annotator")
    with session_scope() as s:
        users = list(s.scalars(select(User).where(User.name.like("t%"))))
    leased: list[int] = []
    errors: list[BaseException] = []
    mask = id_mask(1)

    drops: list[int] = []
    n_walkers = len(users[::4])
    walkers_leased = threading.Event()  # the others start once every walker holds a lease (SQLite is not fair)

    def annotate(user: User, walks_away: bool) -> None:
        try:
            if not walks_away:
                walkers_leased.wait(timeout=60)
            n = 0
            while True:
                with Session(get_engine(), expire_on_commit=False) as session:
                    got = queue.next_lease(session, project_id=pid, annotator_id=user.id)
                    if got is None:
                        return
                    lease, image = got
                    leased.append(image.id)
                    n += 1
                    if walks_away and n == 1:  # leave the first lease to expire: age it past its TTL
                        drops.append(lease.id)
                        if len(drops) == n_walkers:
                            walkers_leased.set()
                        walkers_leased.wait(timeout=60)
                        with session_scope() as s:
                            s.get(Lease, lease.id).expires_at = utcnow() - timedelta(seconds=1)
                        continue
                    submit_mask(session=session, image_id=image.id, user=user, data=mask, fmt=None)
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=annotate, args=(u, i % 4 == 0)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Image).where(Image.state == "labeled")) == N_IMAGES
        per_image = Counter(s.scalars(select(Annotation.image_id)).all())
        assert len(per_image) == N_IMAGES and set(per_image.values()) == {1}  # labeled exactly once
        assert s.scalar(select(func.count()).select_from(Lease).where(Lease.status == "open")) == 0
        expired = s.scalar(select(func.count()).select_from(Lease).where(Lease.status == "expired"))
    # every lease went to one holder at a time: re-leases only happened after an expiry
    assert expired == len(drops) == n_walkers
    assert len(leased) == N_IMAGES + expired
