#!/usr/bin/env bash
# The whole test suite on real PostgreSQL (Redis for the Celery integration tests, headless Chromium for the
# browser tests; both installed or started when missing).
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/services.sh
bash scripts/browser.sh
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/clv}
export DJANGO_SETTINGS_MODULE=clvsite.settings.test
case "$DATABASE_URL" in
  postgres://*|postgresql://*) ;;
  *) echo "The tests need PostgreSQL; DATABASE_URL=$DATABASE_URL is not a postgres:// URL" >&2; exit 1 ;;
esac
# the database named in DATABASE_URL (pytest creates its own test_* database beside it)
db_name=${DATABASE_URL##*/}; db_name=${db_name%%\?*}
psql "${DATABASE_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1 \
  || psql "${DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE \"$db_name\""
.venv/bin/ruff check .
.venv/bin/python manage.py makemigrations --check --dry-run
.venv/bin/pytest "$@"
