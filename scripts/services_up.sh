#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis answer (start them if they are down) and that the test database exists.
# Used by the tests and the compose-parity checks; production runs these as containers (docker-compose.yml).
set -euo pipefail
PGHOST=${PGHOST:-127.0.0.1}
if ! pg_isready -q -h "$PGHOST"; then
    echo "starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 30); do pg_isready -q -h "$PGHOST" && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    echo "starting Redis" >&2
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi
db=${DEPTHAL_TEST_PGDATABASE:-depthal_test}
if ! psql -h "$PGHOST" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
    psql -h "$PGHOST" -U postgres -qc "CREATE DATABASE $db"
fi
