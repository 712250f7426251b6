#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine: virtualenv, pinned install, PostgreSQL and Redis up,
# the test database created, then pytest. `.ci/run` calls exactly this. Extra arguments go to pytest.
#   scripts/test.sh --fast   the developer's lane: SQLite only, no PostgreSQL or Redis needed, no slow tests, spread
#                            over the machine's cores (pytest-xdist; 85 s on 2 cores). The full suite runs in one
#                            process: its PostgreSQL tests share one database.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
# tests/web/ drive the browser app in Debian's Chromium (Playwright never downloads a browser here)
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if [ "${1:-}" = "--fast" ]; then
    shift
    exec .venv/bin/python -m pytest --fast -n auto "$@"
fi
source scripts/setup_labelstudio.sh  # tests/labelstudio/ start a real Label Studio from .venv-labelstudio
scripts/services_up.sh
.venv/bin/python -m pytest "$@"
