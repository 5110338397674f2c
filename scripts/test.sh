#!/usr/bin/env bash
# The whole test suite on real PostgreSQL: the server at DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/clv) when one answers there, otherwise the embedded PostgreSQL
# (.pgdata/, no system service needed). Redis for the Celery integration tests is started when installed;
# headless Chromium for the browser tests is installed when missing. Then ruff, the migration check, the
# import-layer contract and pytest.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/redis.sh
bash scripts/browser.sh
export DJANGO_SETTINGS_MODULE=clvsite.settings.test
url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/clv}
case "$url" in
  postgres://*|postgresql://*) ;;
  *) echo "The tests need PostgreSQL; DATABASE_URL=$url is not a postgres:// URL" >&2; exit 1 ;;
esac
if .venv/bin/python scripts/postgres_answers.py "$url"; then
  export DATABASE_URL=$url
  echo "== PostgreSQL: ${url%%\?*}"
else
  unset DATABASE_URL
  echo "== PostgreSQL: the embedded server (.pgdata/)"
fi
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
.venv/bin/python manage.py makemigrations --check --dry-run
.venv/bin/pytest "$@"
