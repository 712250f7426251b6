"""Settings: one typed object, read from `DEPTHAL_*` environment variables (and `.env`), validated at start-up.

Embedded defaults put everything under one data directory: a SQLite database, kombu's SQLite broker and the
storage folder. Production points `DEPTHAL_DATABASE_URL` at PostgreSQL and `DEPTHAL_BROKER_URL` at Redis.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changethis", "changeme", "secret"}
MIN_PRODUCTION_SECRET = 16  # characters of DEPTHAL_ADMIN_TOKEN and DEPTHAL_SECRET_KEY in production


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEPTHAL_", env_file=".env", env_ignore_empty=True, extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("depthal-data")
    database_url: str | None = None  # default: sqlite under data_dir
    broker_url: str | None = None  # default: kombu's SQLite transport under data_dir
    storage_dir: Path | None = None  # default: data_dir / "storage"
    import_root: Path | None = None  # server folders that may be registered; default: data_dir / "import"
    lease_ttl_seconds: int = Field(default=900, gt=0)
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    # A video upload (`POST /projects/{id}/videos`) is streamed to disk, not buffered, so it has its own, larger limit.
    max_video_bytes: int = Field(default=4 * 1024**3, gt=0)
    # Pixels an image may have (width × height), checked from its header before a pixel is decoded: a 25 MiB PNG
    # of one colour can declare billions. 64 M is an 8K frame eight times over; Pillow itself refuses to decode
    # beyond 178,956,970 (its decompression-bomb limit), so the setting cannot go past that.
    max_image_pixels: int = Field(default=64_000_000, gt=0, le=178_956_970)
    secret_key: str = "changethis"  # salts token hashes
    admin_token: str = "changethis"  # bootstrap admin's API token, created on first start
    gpu_queue: str = "gpu"
    broker_poll_seconds: float = Field(default=0.05, gt=0)  # SQLite broker only: latency vs. idle CPU
    # Redis broker: an unacknowledged task (its worker died) is delivered again after this many seconds.
    broker_visibility_timeout_seconds: int = Field(default=3600, gt=0)
    job_heartbeat_seconds: float = Field(default=10.0, gt=0)  # a running job's worker touches its row this often
    job_stale_seconds: float = Field(default=60.0, gt=0)  # a running job silent this long has lost its worker
    # API, per process: requests whose database work runs at once (the thread pool's size), and the PostgreSQL
    # connections its pool keeps open, one per such request, so a burst of annotators reuses connections instead
    # of opening and closing one per request. PostgreSQL's max_connections must cover API processes × this.
    api_concurrency: int = Field(default=20, gt=0)
    # A request waits this long for one of those connections, then answers 503 with Retry-After (never a hang).
    # Requests hold a connection only inside their worker thread, so with the pool as large as the thread pool
    # the wait stays short; this bounds what is left (a stuck database, a long export).
    api_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    # Requests in flight per process (running or waiting for a thread) before the rest are answered 503 with
    # Retry-After; and per client address (429). Default: 4 × and 2 × api_concurrency.
    api_max_in_flight: int | None = Field(default=None, gt=0)
    api_client_max_in_flight: int | None = Field(default=None, gt=0)
    # A request body (mask, image upload) must arrive within this many seconds, else 408: a client trickling
    # bytes cannot hold a connection and its buffer indefinitely.
    body_read_timeout_seconds: float = Field(default=60.0, gt=0)
    # Browser origins allowed to call the API cross-origin (CORS), e.g. ["https://label.example.org"]; empty: none
    # (the web app at /app is same-origin and needs no entry). JSON list in the environment.
    cors_origins: list[str] = Field(default_factory=list)
    # The interactive API docs at /docs (served from this package, no CDN) and the schema at /openapi.json.
    docs_enabled: bool = True
    # Label Studio (docs/labelstudio.md): how long an image pushed as a task stays leased to Label Studio without a
    # sync renewing the hold; then it returns to depthal's own queue.
    labelstudio_hold_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    # ... and how often each worker syncs every linked project (missed webhooks, tasks deleted there, holds renewed)
    labelstudio_sync_seconds: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _fill_defaults_and_check_secrets(self) -> Settings:
        data = self.data_dir.expanduser().resolve()
        self.data_dir = data
        if self.database_url is None:
            self.database_url = f"sqlite:///{data / 'depthal.sqlite'}"
        if self.broker_url is None:
            self.broker_url = f"sqla+sqlite:///{data / 'broker.sqlite'}"
        self.storage_dir = (self.storage_dir or data / "storage").expanduser().resolve()
        self.import_root = (self.import_root or data / "import").expanduser().resolve()
        self.api_max_in_flight = self.api_max_in_flight or 4 * self.api_concurrency
        self.api_client_max_in_flight = self.api_client_max_in_flight or 2 * self.api_concurrency
        if self.env != "development":
            for name in ("secret_key", "admin_token"):
                if getattr(self, name).strip().lower() in PLACEHOLDER_SECRETS:
                    raise ValueError(
                        f"DEPTHAL_{name.upper()} is a placeholder; set a real secret when DEPTHAL_ENV={self.env}"
                    )
        if self.env == "production":
            for name in ("secret_key", "admin_token"):
                if len(getattr(self, name)) < MIN_PRODUCTION_SECRET:
                    raise ValueError(
                        f"DEPTHAL_{name.upper()} is shorter than {MIN_PRODUCTION_SECRET} characters; production needs "
                        "a long random secret (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                    )
        if "*" in self.cors_origins:
            raise ValueError("DEPTHAL_CORS_ORIGINS lists '*'; name the origins that may call the API")
        return self

    @property
    def uses_placeholder_admin_token(self) -> bool:
        return self.admin_token.strip().lower() in PLACEHOLDER_SECRETS

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.storage_dir, self.import_root):
            assert path is not None
            path.mkdir(parents=True, exist_ok=True)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once. Tests call `get_settings.cache_clear()` after changing the environment."""
    return Settings()
