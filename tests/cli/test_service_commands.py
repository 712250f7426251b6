"""The service commands of the `depthal` CLI that need no API: db upgrade, worker, clear port errors."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect

from cli.commands.worker import celery_command
from cli.main import main
from service.db.base import Base
from tests.worker.procs import REPO, worker_env


def test_db_upgrade_creates_every_table_on_a_fresh_sqlite(tmp_path) -> None:
    data = tmp_path / "fresh"
    env = worker_env(data_dir=str(data), env="development")
    env.pop("DEPTHAL_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "cli", "db", "upgrade"], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    engine = create_engine(f"sqlite:///{data / 'depthal.sqlite'}")
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    assert "is at revision head" in done.stderr


def test_worker_command_is_celery_solo_on_the_gpu_queue(sqlite_database) -> None:
    cmd = celery_command()
    assert cmd[1:6] == ["-m", "celery", "-A", "worker.celery_app", "worker"]
    assert {"--pool=solo", "--concurrency=1", "--prefetch-multiplier=1"} <= set(cmd)
    assert cmd[cmd.index("-Q") + 1] == "gpu"


@pytest.mark.parametrize("command", ["serve", "up"])
def test_a_port_in_use_is_a_clear_error(command: str, sqlite_database, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([command, "--port", str(port)]) == 2
    assert f"depthal: error: port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


def test_service_commands_do_not_import_torch_or_the_worker() -> None:
    code = (
        "import sys; from cli.main import build_parser; build_parser();"
        "import cli.commands.up, cli.commands.worker, cli.commands.serve;"
        "print(sorted(m for m in ('torch', 'worker', 'worker.tasks', 'models.tv') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=worker_env(), cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_users_create_prints_a_working_token_and_refuses_a_duplicate(tmp_path) -> None:
    env = worker_env(data_dir=str(tmp_path / "d"), env="development")
    env.pop("DEPTHAL_DATABASE_URL", None)
    depthal = [sys.executable, "-m", "cli"]
    assert subprocess.run([*depthal, "db", "upgrade"], env=env, cwd=REPO, capture_output=True).returncode == 0
    made = subprocess.run([*depthal, "users", "create", "lea", "--role", "lead"], env=env, cwd=REPO,
                          capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    lines = made.stdout.strip().splitlines()
    assert lines[0].startswith("created lead 'lea'") and lines[1].startswith("dal_")
    check = (
        "from sqlalchemy.orm import Session; from service.db.session import get_engine;"
        "from service.crud.users import user_for_token; import sys;"
        "u = user_for_token(session=Session(get_engine()), token=sys.argv[1]); print(u.name, u.role)"
    )
    who = subprocess.run([sys.executable, "-c", check, lines[1]], env=env, cwd=REPO, capture_output=True, text=True)
    assert who.stdout.strip() == "lea lead", who.stderr
    again = subprocess.run([*depthal, "users", "create", "lea", "--role", "annotator"], env=env, cwd=REPO,
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 2 and "depthal: error: a user named 'lea' already exists" in again.stderr


@pytest.fixture
def fresh_settings(tmp_path, monkeypatch):
    """Settings on an empty data directory whose SQLite file has never been migrated; caches reset around."""
    from tests.conftest import _configure, _reset_caches

    data = tmp_path / "fresh"
    _configure(monkeypatch, data, f"sqlite:///{data / 'depthal.sqlite'}")
    yield monkeypatch
    _reset_caches()


@pytest.mark.parametrize(
    ("env", "argv", "says"),
    [
        ({}, ["users", "tokens", "ann"], "the database has no depthal schema yet (no such table: user): run "
         "`depthal db upgrade` first"),
        ({"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:{closed_port}/x"}, ["db", "upgrade"],
         "cannot use the database: connection failed"),
        ({"DATABASE_URL": "foo://bar"}, ["db", "upgrade"], "DEPTHAL_DATABASE_URL is not a database URL SQLAlchemy can"),
        ({"LEASE_TTL_SECONDS": "-5"}, ["users", "tokens", "ann"],
         "invalid setting DEPTHAL_LEASE_TTL_SECONDS='-5': Input should be greater than 0"),
        ({}, ["users", "create", "", "--role", "lead"], "user name '': String should have at least 1 character"),
        ({}, ["serve", "--port", "0"], "the database has no depthal schema yet (no such table: user): run "
         "`depthal db upgrade` first"),
    ],
    ids=["not-migrated", "unreachable", "bad-url", "bad-setting", "empty-name", "serve-not-migrated"],
)  # fmt: skip
def test_settings_and_database_problems_are_one_line_errors(
    fresh_settings, capsys, closed_port, env, argv, says
) -> None:
    """Each was a traceback; now `depthal: error: ...` naming what to fix, exit code 2."""
    from tests.conftest import _reset_caches

    for key, value in env.items():
        fresh_settings.setenv(f"DEPTHAL_{key}", value.replace("{closed_port}", str(closed_port)))
    _reset_caches()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"depthal: error: {says}" in err and "Traceback" not in err


def test_token_id_past_the_columns_is_an_argument_error(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["users", "revoke-token", "ann", str(2**64)])
    assert done.value.code == 2 and f"'{2**64}' is not an id (1 … 2147483647)" in capsys.readouterr().err
