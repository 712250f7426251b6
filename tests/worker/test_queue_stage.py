"""Issue 19, item 10: a round's chosen image that a lead labeled while the round ran is skipped at the queue stage;
the round still succeeds with the rest (worker/round/queue.py)."""

from __future__ import annotations

from sqlalchemy import select

from service.db.session import session_scope
from service.db.tables import Image, ImageState, Round
from tests.conftest import Database
from tests.factories import make_project, make_round
from worker.round.queue import queue_images


def test_an_image_labeled_meanwhile_is_skipped_and_the_round_succeeds(database: Database) -> None:
    project_id = make_project(4)
    round_id, _ = make_round(project_id, batch_size=2)
    with session_scope() as session:
        first, second = session.scalars(select(Image.id).where(Image.project_id == project_id).limit(2)).all()
        session.get(Image, first).state = ImageState.LABELED  # a lead's mask arrived while the round ran
    with session_scope() as session:
        assert queue_images(session, round_id, [first, second], pool_unlabeled=4) == [second]
    with session_scope() as session:
        round_ = session.get(Round, round_id)
        assert round_.status == "succeeded" and round_.metrics["left_the_pool"] == 1
        assert round_.metrics["queued"] == 1
        assert session.get(Image, first).state == ImageState.LABELED
        image = session.get(Image, second)
        assert image.state == ImageState.QUEUED and image.queued_round_id == round_id
