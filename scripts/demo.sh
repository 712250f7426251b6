#!/usr/bin/env bash
# The README's demo: install (once), then `depthal demo`: a synthetic street world, the embedded service (`depthal
# up`: SQLite database and broker, the API and one worker), a project with a label budget and the method's strategy,
# the cold start and training rounds while simulated annotators label over HTTP, and a labels-vs-mIoU table + plot.
# Data, logs and results go to ./depthal-demo (recreated). Extra arguments go to `depthal demo` (e.g. --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
# Two threads per process: the worker trains while the API and the annotator threads stay responsive on 2 cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec .venv/bin/python -m cli demo --data-dir "${DEPTHAL_DEMO_DIR:-$PWD/depthal-demo}" "$@"
