#!/usr/bin/env bash
# Start the machine's PostgreSQL and Redis when they are installed but stopped (CI machines have both).
# Never fails: without a PostgreSQL service the tests use the embedded one; without Redis the Celery
# integration tests say why they skip.
set -uo pipefail
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
bash "$(dirname "$0")/redis.sh"
exit 0
