"""Read docker-compose.yml and turn its services into local commands: the same argv and environment, with only
container addresses mapped to this machine (database, Redis, the /data volume, the listening host and port)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
_VAR = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}`; a missing required variable raises."""

    def sub(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if variables.get(name):
            return variables[name]
        if op == "-":
            return arg
        raise KeyError(f"{name} is required: {arg}")

    return _VAR.sub(sub, value)


def depthal_executable() -> list[str]:
    """The installed `depthal` console script next to this Python; `python -m cli` where there is none."""
    script = Path(sys.executable).parent / "depthal"
    if script.exists():
        return [str(script)]
    found = shutil.which("depthal")
    return [found] if found else [sys.executable, "-m", "cli"]


def local_command(
    service: dict[str, Any], variables: dict[str, str], replace: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """A service's `command` and `environment`, interpolated; `replace` maps container addresses to local ones
    (substring replacement in env values and arguments)."""

    def local(text: str) -> str:
        text = interpolate(str(text), variables)
        for old, new in replace.items():
            text = text.replace(old, new)
        return text

    argv = [local(a) for a in service["command"]]
    if argv[0] == "depthal":
        argv = depthal_executable() + argv[1:]
    env = {k: local(v) for k, v in service.get("environment", {}).items()}
    return argv, env
