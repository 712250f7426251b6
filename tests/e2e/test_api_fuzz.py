"""The API fuzzed from its own OpenAPI schema: schemathesis (its CLI, a fixed seed) sends every route what the schema
admits and what it does not (boundary numbers, wrong types, odd strings: its examples, coverage and fuzzing phases,
and a stateful phase chaining calls along the links it infers from the schema)
against a real `depthal serve` on SQLite and on PostgreSQL, and no request may get a server error.

The first such run found 500s on both backends: ids and offsets past the database's integers, NUL characters, lone
surrogates and NaN in JSON bodies, a Cityscapes import of a folder without leftImg8bit/ (docs/api.md, "Fuzzing").
The DELETE routes (token revocation, removing a member) are left out: revoking the fuzzer's own token would turn the
rest of the run into 401s (tests/service/test_tokens.py covers revocation, test_membership.py removal). So is the
Label Studio link: it connects to the URL in its body, and a fuzzer's URL may name any host (tests/labelstudio/ cover
its refusals against a real server).
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from service.db.tables import Role
from tests.conftest import REDIS_URL, Database
from tests.e2e.compose import depthal_executable
from tests.e2e.server import Server, free_port
from tests.factories import make_project, make_round, make_token, mask_png, queue_all
from tests.worker.procs import REPO, worker_env

ADMIN = {"Authorization": "Bearer test-admin-token"}


def _seed(base: str) -> None:
    """Rows for the fuzzer's ids to find: a project with sequence images, a lease, a stored mask, a pending round,
    and a second project; a lead and an annotator are members of both (issue 19's per-project roles)."""
    project_id = make_project(4, neighbours=True)
    queue_all(project_id)
    make_round(project_id, batch_size=1)
    make_project(2, name="team-b")
    make_token("fuzz-lead", Role.LEAD)
    make_token("fuzz-annotator", Role.ANNOTATOR)
    with httpx.Client(base_url=base, headers=ADMIN, timeout=30) as http:
        lease = http.post(f"/projects/{project_id}/queue/next")
        assert lease.status_code == 200, lease.text
        image = lease.json()["image"]
        mask = mask_png(image["width"], image["height"], class_id=1)
        stored = http.put(f"/images/{image['id']}/mask", files={"file": ("m.png", mask, "image/png")})
        assert stored.status_code == 201, stored.text


def _failures(junit: Path) -> list[str]:
    """'operation: failure' per failing test case of schemathesis's JUnit report."""
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for failure in [*case.iter("failure"), *case.iter("error")]:
            found.append(f"{case.get('name')}: {(failure.text or failure.get('message') or '')[:600]}")
    return found


@pytest.mark.slow  # a server and the fuzzer's thousands of requests: the full suite only
def test_no_request_gets_a_server_error(database: Database, tmp_path: Path) -> None:
    port = free_port()
    broker = {"broker_url": REDIS_URL} if database.backend == "postgres" else {}
    env = worker_env(
        data_dir=str(database.data_dir), database_url=database.url, env="test", secret_key="test-secret-key",
        admin_token="test-admin-token", **broker,
    )  # fmt: skip
    argv = [*depthal_executable(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log, junit = tmp_path / "server.log", tmp_path / "junit.xml"
    fuzz = [
        str(Path(sys.executable).parent / "schemathesis"), "run",
        "--header", f"Authorization: {ADMIN['Authorization']}",
        "--checks", "not_a_server_error", "--exclude-method", "DELETE", "--exclude-path-regex", "labelstudio/link$",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", "15", "--seed", "20261203", "--generation-deterministic", "--no-color",
        "--report", "junit", "--report-junit-path", str(junit),
    ]  # fmt: skip
    with Server(argv, env, log, port) as server:
        _seed(server.base)
        run = subprocess.run(
            [*fuzz, f"{server.base}/openapi.json"],
            cwd=tmp_path,  # schemathesis writes its cache beside it, not into the repository
            env={**env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=300,
        )
    failures = _failures(junit)
    tested = sum(1 for _ in ET.parse(junit).getroot().iter("testcase"))
    assert tested >= 30, f"schemathesis tested {tested} operations:\n{run.stdout[-3000:]}"
    server_errors = [line for line in log.read_text().splitlines() if "Error" in line][-20:]
    assert not failures and run.returncode == 0, "\n".join([*failures, "server log:", *server_errors])
