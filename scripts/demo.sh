#!/usr/bin/env bash
# The README's demo: install (once), start the embedded service (`depthal up`: SQLite database and broker, the
# API and one worker) on a free port, then walk through project → images → validation → random round → one
# annotator's next → mask → progress over HTTP, and stop the service. Data goes to ./depthal-demo (recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
py=.venv/bin/python

export DEPTHAL_ENV=development
export DEPTHAL_DATA_DIR="${DEPTHAL_DEMO_DIR:-$PWD/depthal-demo}"
export DEPTHAL_ADMIN_TOKEN="demo-$($py -c 'import secrets; print(secrets.token_hex(8))')"
unset DEPTHAL_DATABASE_URL DEPTHAL_BROKER_URL DEPTHAL_STORAGE_DIR DEPTHAL_IMPORT_ROOT
rm -rf "$DEPTHAL_DATA_DIR"
mkdir -p "$DEPTHAL_DATA_DIR"
port=$($py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$DEPTHAL_DATA_DIR/up.log"

echo "==> starting depthal up on 127.0.0.1:$port (log: $log)"
$py -m service up --port "$port" >"$log" 2>&1 &
up_pid=$!
stop() {
    if kill -0 "$up_pid" 2>/dev/null; then
        kill -INT "$up_pid"
        wait "$up_pid" || true
    fi
    tail -n 1 "$log" | sed 's/^/==> /'
}
trap stop EXIT
for _ in $(seq 120); do
    grep -q "depthal is up" "$log" && break
    kill -0 "$up_pid" 2>/dev/null || { echo "depthal up exited early:"; tail -n 30 "$log"; exit 1; }
    sleep 0.5
done
grep -q "depthal is up" "$log" || { echo "depthal up did not start within 60 s:"; tail -n 30 "$log"; exit 1; }

$py scripts/demo.py --url "http://127.0.0.1:$port" --admin-token "$DEPTHAL_ADMIN_TOKEN" \
    --import-root "$DEPTHAL_DATA_DIR/import"
