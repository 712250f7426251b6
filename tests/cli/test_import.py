"""`depthal import`: upload a video (H.264 from the synthetic world) and register a server path, then follow the
import job to its end, against the real API app on both backends (the job runs here while the command sleeps)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cli.commands.imports import create_project, register_path, run, start_round, upload_video, wait
from cli.main import CLIError, build_parser
from service.config import get_settings
from tests.factories import encode_video, synth_frames
from tests.service.conftest import Api


def _run_sent(jobs: list[tuple[str, int]]) -> None:
    from worker import import_frames
    from worker.runner import run_job

    while jobs:
        run_job(jobs.pop(0)[1], import_frames.run)


def test_new_project_upload_wait_and_round(api: Api, sent: list, tmp_path: Path) -> None:
    video = encode_video(tmp_path / "drive.mp4", synth_frames(10))
    api.client.headers.update(api.lead)
    printed: list[str] = []
    pid = create_project(api.client, "dashcam", 50, 2, echo=printed.append)
    assert printed.pop() == f"project {pid} 'dashcam' created (label budget 50, 2 images a round)"
    job_id = upload_video(api.client, pid, video, {"pool_every": 4, "frame_stride": 1}, echo=printed.append)
    assert printed[0] == f"drive.mp4: import job {job_id} started" and printed[1].startswith("warning: no camera")
    code = wait(api.client, [job_id], interval=0.01, echo=printed.append, sleep=lambda _s: _run_sent(sent))
    assert code == 0
    assert printed[2].startswith(f"job {job_id} queued") and "[--------------------]   0%" in printed[2]
    assert printed[-1] == f"job {job_id} succeeded: 1 sequence(s), 10 frames stored, 2 pool images"
    start_round(api.client, pid, echo=printed.append)
    assert printed[-1] == f"round 0 started; follow it: depthal progress --project {pid} --follow"
    assert len(sent) == 1  # the round's plan job, sent
    with pytest.raises(CLIError, match="upload of drive.mp4 refused \\(409\\): drive.mp4 duplicates 'drive.mp4'"):
        upload_video(api.client, pid, video, {}, echo=printed.append)


def test_server_path_and_a_failing_job_exit_1(api: Api, sent: list) -> None:
    root = get_settings().import_root
    assert root is not None
    encode_video(root / "two.mp4", synth_frames(2))
    pid = api.project()["id"]
    api.client.headers.update(api.lead)
    printed: list[str] = []
    job_id = register_path(api.client, pid, "two.mp4", "video", {"hfov_deg": 100.0}, echo=printed.append)
    assert job_id is not None and printed == [f"two.mp4: import job {job_id} started"]
    _run_sent(sent)
    assert wait(api.client, [job_id], interval=0.01, echo=printed.append) == 1
    assert printed[-1].startswith(f"job {job_id} failed: worker.runner.PipelineError: two.mp4 has 2 frame(s)")
    with pytest.raises(CLIError, match="import of ../x refused \\(403\\)"):
        register_path(api.client, pid, "../x", "video", {})


def test_arguments_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEPTHAL_TOKEN", raising=False)
    args = build_parser().parse_args(["import", "--project", "1", str(tmp_path / "a.mp4")])
    with pytest.raises(CLIError, match="no API token"):
        run(args)
    args.token = "t"
    args.server = "videos"
    with pytest.raises(CLIError, match="not both"):
        run(args)
    with pytest.raises(SystemExit):  # argparse: --hfov and --focal-px are exclusive
        build_parser().parse_args(["import", "--project", "1", "--hfov", "90", "--focal-px", "500", "a.mp4"])
    with pytest.raises(CLIError, match="no such file"):
        upload_video(None, 1, tmp_path / "missing.mp4", {})  # type: ignore[arg-type]
    assert isinstance(args, argparse.Namespace)
