#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine: virtualenv, pinned install, PostgreSQL and Redis up,
# the test database created, then pytest. `.ci/run` calls exactly this. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
scripts/services_up.sh
.venv/bin/python -m pytest "$@"
