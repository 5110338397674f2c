#!/usr/bin/env bash
# Start Redis on 127.0.0.1:6379 for the Celery integration tests when it is installed but not answering.
set -uo pipefail
if command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  exit 0
fi
if command -v redis-server >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0; sleep 1; done
fi
echo "no Redis on 127.0.0.1:6379: the Celery integration tests will skip"
exit 0
