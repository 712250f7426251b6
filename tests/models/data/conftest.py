"""A tiny synthetic world shared by the data tests (written once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.data.synth import generate_world

WORLD_SIZE = (96, 192)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(out, sequences=10, size=WORLD_SIZE, seed=3, val_fraction=0.2)
    return out
