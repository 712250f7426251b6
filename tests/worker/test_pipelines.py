"""The torch-free pipelines through the runner, in-process, on SQLite and PostgreSQL: validate_images, and the
plain (model-free) round of the tests, whose queueing is the production queue stage's."""

from __future__ import annotations

from PIL import Image as PILImage
from sqlalchemy import select, update

from service import storage
from service.db.session import session_scope
from service.db.tables import Image, ImageState, Job, JobKind, JobStatus, Round, RoundStatus, Score
from tests.factories import load_job, make_job, make_project, make_round, solid_png
from tests.worker import plain_round as rounds
from worker import validate_images
from worker.runner import run_job


def _images(project_id: int) -> list[Image]:
    with session_scope() as session:
        rows = session.scalars(select(Image).where(Image.project_id == project_id).order_by(Image.id)).all()
        session.expunge_all()
        return list(rows)


def test_validate_images_writes_a_thumbnail_per_image(database) -> None:
    project_id = make_project(5, neighbours=True)
    job_id = make_job(project_id)
    assert run_job(job_id, validate_images.run) == JobStatus.SUCCEEDED
    job = load_job(job_id)
    assert job.result == {"images": 5, "frames": 15, "thumbnails": 5} and job.progress == 1.0
    for image in _images(project_id):
        with PILImage.open(storage.absolute(storage.thumbnail_file(project_id, image.id))) as thumb:
            assert thumb.format == "JPEG" and thumb.size == (32, 16)  # already smaller than the bounding box


def test_validate_images_names_every_broken_file(database) -> None:
    project_id = make_project(4, neighbours=True)
    images = _images(project_id)
    truncated = solid_png(seed=99)[:60]
    storage.absolute(images[1].path).write_bytes(truncated)
    storage.absolute(images[2].next_path).write_bytes(solid_png(width=20, height=10))  # wrong size
    job_id = make_job(project_id)
    assert run_job(job_id, validate_images.run) == JobStatus.FAILED
    job = load_job(job_id)
    assert job.message.startswith("2 problem(s)")
    assert f"{images[1].name} ({images[1].path}): cannot decode" in job.message
    assert f"{images[2].name}: frame t+1 is 20x10, image is 32x16" in job.message
    assert images[0].name not in job.message


def test_random_round_queues_a_seeded_batch_with_ranks(database) -> None:
    project_id = make_project(10, seed=7)
    round_id, job_id = make_round(project_id, 4)
    assert run_job(job_id, rounds.run) == JobStatus.SUCCEEDED
    queued = [i for i in _images(project_id) if i.state == ImageState.QUEUED]
    assert len(queued) == 4 and all(i.queued_round_id == round_id for i in queued)
    with session_scope() as session:
        scores = session.scalars(select(Score).where(Score.round_id == round_id).order_by(Score.rank)).all()
        assert [s.rank for s in scores] == [0, 1, 2, 3]
        by_rank = [s.image_id for s in scores]
        round_ = session.get(Round, round_id)
        assert round_.status == RoundStatus.SUCCEEDED and round_.metrics["queued"] == 4
    assert sorted(queued, key=lambda i: i.queue_rank) == sorted(queued, key=lambda i: by_rank.index(i.id))
    assert [i.queue_rank for i in sorted(queued, key=lambda i: i.queue_rank)] == [0.0, 1.0, 2.0, 3.0]
    assert load_job(job_id).result["queued"] == by_rank
    # Same seed, project and round index: the same picks (the RNG is seeded, not global).
    ids = [i.id for i in _images(project_id)]
    again = rounds.random_strategy(rounds.RoundInput(_Ctx(), project_id, 0, 4, ids, 7))
    assert [p.image_id for p in again] == by_rank


class _Ctx:
    def progress(self, stage: str, fraction: float, message: str | None = None) -> None:
        pass


def test_second_round_queues_behind_the_first_and_skips_queued_images(database) -> None:
    project_id = make_project(6)
    _, first = make_round(project_id, 3)
    assert run_job(first, rounds.run) == JobStatus.SUCCEEDED
    second_round, second = make_round(project_id, 3)
    assert run_job(second, rounds.run) == JobStatus.SUCCEEDED
    images = _images(project_id)
    assert all(i.state == ImageState.QUEUED for i in images)
    late = sorted(i.queue_rank for i in images if i.queued_round_id == second_round)
    assert late == [3.0, 4.0, 5.0]


def test_round_with_too_few_images_fails_and_leaves_the_queue_alone(database) -> None:
    project_id = make_project(5)
    _, first = make_round(project_id, 3)
    assert run_job(first, rounds.run) == JobStatus.SUCCEEDED
    before = [(i.id, i.state, i.queue_rank, i.queued_round_id) for i in _images(project_id)]
    round_id, job_id = make_round(project_id, 3)
    assert run_job(job_id, rounds.run) == JobStatus.FAILED
    assert load_job(job_id).message == "round 1 needs 3 unlabeled pool images, but the project has only 2"
    assert [(i.id, i.state, i.queue_rank, i.queued_round_id) for i in _images(project_id)] == before
    with session_scope() as session:
        assert session.get(Round, round_id).status == RoundStatus.FAILED
        assert session.scalar(select(Score.id).where(Score.round_id == round_id)) is None


def test_unknown_strategy_is_refused_by_name(database) -> None:
    project_id = make_project(3)
    _, job_id = make_round(project_id, 1, strategy="psychic")
    assert run_job(job_id, rounds.run) == JobStatus.FAILED
    assert load_job(job_id).message == "unknown selection strategy 'psychic'; known: random"


def test_round_cancelled_during_selection_queues_nothing(database, monkeypatch) -> None:
    project_id = make_project(4)
    round_id, job_id = make_round(project_id, 2)

    def cancel_then_pick(inp: rounds.RoundInput) -> list[rounds.Pick]:
        with session_scope() as session:
            session.execute(update(Job).where(Job.id == inp.ctx.job_id).values(status=JobStatus.CANCELLED))
        return [rounds.Pick(i) for i in inp.candidates[:2]]

    monkeypatch.setitem(rounds.STRATEGIES, "random", cancel_then_pick)
    assert run_job(job_id, rounds.run) == JobStatus.CANCELLED
    assert all(i.state == ImageState.UNLABELED for i in _images(project_id))
    with session_scope() as session:
        assert session.get(Round, round_id).status == RoundStatus.CANCELLED


def test_periodic_sweeps_requeue_abandoned_jobs_and_expire_leases(database, monkeypatch) -> None:
    from datetime import timedelta

    from service.crud.users import create_user
    from service.db.base import utcnow
    from service.db.tables import Lease, Role
    from worker import sweeps as tasks

    project_id = make_project(3)
    fresh, stale, queued = make_job(project_id), make_job(project_id), make_job(project_id)
    from sqlalchemy.orm import Session

    from service.db.session import get_engine

    with Session(get_engine()) as session:  # create_user commits itself
        user_id = create_user(session=session, name="ann", role=Role.ANNOTATOR)[0].id
    with session_scope() as session:
        now = utcnow()
        session.execute(update(Job).where(Job.id == fresh).values(status=JobStatus.RUNNING, heartbeat_at=now))
        session.execute(
            update(Job).where(Job.id == stale).values(status=JobStatus.RUNNING, heartbeat_at=now - timedelta(hours=1))
        )
        image = session.scalars(select(Image).where(Image.project_id == project_id)).first()
        image.state = ImageState.LEASED
        session.add(Lease(image_id=image.id, annotator_id=user_id, issued_at=now - timedelta(hours=2),
                          expires_at=now - timedelta(hours=1)))  # fmt: skip
    sent = []
    monkeypatch.setattr(tasks, "enqueue", lambda task, job_id: sent.append((task, job_id)))
    assert tasks.requeue_abandoned_jobs() == [stale] and sent == [(JobKind.VALIDATE_IMAGES, stale)]
    assert tasks.expire_overdue_leases() == 1
    with session_scope() as session:
        assert session.get(Image, image.id).state == ImageState.QUEUED
    assert queued not in [j for _, j in sent]
