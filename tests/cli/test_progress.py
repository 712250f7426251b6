"""`depthal progress`: the plain-text report (stages with bars and times, labels vs budget, mIoU per round) and
`--follow` refreshing until the round ends, against the real API app."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest

from cli.commands.progress import bar, duration, run, watch
from cli.main import CLIError
from tests.service.conftest import Api, Broker, running_round


def test_bar_and_duration_text() -> None:
    assert bar(0.35, width=20) == "[#######-------------]  35%"
    assert bar(1.7, width=4) == "[####] 100%" and bar(float("nan"), width=4) == "[----]   0%"
    assert (duration(None), duration(4.25), duration(75), duration(3 * 3600 + 125)) == ("-", "4.2s", "1m15s", "3h02m")


def test_follow_prints_stages_until_the_round_ends(api: Api, broker: Broker) -> None:
    from service.db.base import utcnow
    from service.db.session import session_scope
    from service.db.tables import Job, JobKind, JobStatus, Round

    pid, round_id, now = running_round(api, images=4, started_seconds_ago=30)
    with session_scope() as session:
        session.add(Job(project_id=pid, round_id=round_id, kind=JobKind.TRAIN, status=JobStatus.RUNNING,
                        stage="train", progress=0.5, message="100/200 iterations",
                        started_at=now - timedelta(seconds=30)))  # fmt: skip

    def finish_round(_seconds: float) -> None:  # the worker finishing while the CLI sleeps
        with session_scope() as session:
            round_ = session.query(Round).filter_by(project_id=pid).one()
            round_.status, round_.finished_at = "succeeded", utcnow()
            round_.metrics = {"miou": 0.4321, "labels_used": 2}
            for job in session.query(Job).filter_by(round_id=round_.id):
                job.status, job.progress, job.finished_at = JobStatus.SUCCEEDED, 1.0, utcnow()

    printed: list[str] = []
    api.client.headers.update(api.lead)
    code = watch(api.client, pid, follow=True, interval=0.01, echo=printed.append, sleep=finish_round)
    assert code == 0
    reports = [p for p in printed if p.startswith("project ")]
    assert len(reports) == 2 and printed[1].startswith("-- ")  # one refresh, then the round had ended
    first, last = reports
    assert "labels  0 labeled + 0 queued + 0 leased = 0 of budget 10" in first
    assert "round 0  running" in first and "mIoU=-" in first
    train_line = next(line for line in first.splitlines() if line.lstrip().startswith("train"))
    assert "[##########----------]  50%" in train_line and "train: 100/200 iterations" in train_line
    assert "round 0  succeeded" in last and "labels=2" in last and "mIoU=43.2%" in last
    assert "[####################] 100%" in last


def test_run_errors_name_the_problem(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    monkeypatch.delenv("DEPTHAL_TOKEN", raising=False)
    url = f"http://127.0.0.1:{closed_port}"
    args = argparse.Namespace(project=1, url=url, token=None, follow=False, interval=1.0)
    with pytest.raises(CLIError, match="no API token"):
        run(args)
    args.token = "x"
    with pytest.raises(CLIError, match=f"cannot reach the API at {url}"):
        run(args)
