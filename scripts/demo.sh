#!/usr/bin/env bash
# The demo on the embedded default: the embedded PostgreSQL (.pgdata/, started on demand and stopped when
# the last process using it exits), eager Celery. Installs, migrates, seeds the demo brand,
# scores it (fits the churn models and publishes the scores), creates a demo staff login (printed
# below) and serves /admin/ and /graphql/ on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export DJANGO_SETTINGS_MODULE=clvsite.settings.local
PY=.venv/bin/python
CUSTOMERS=${DEMO_CUSTOMERS:-5000}
$PY manage.py migrate --noinput -v0
# seed, then publish scores as of 90 days ago and as of today (the reports that follow customers after a
# refresh need the earlier one)
$PY manage.py seed_demo --customers "$CUSTOMERS" --seed 42 --brand demo --score
echo
echo "Demo login (a manager of the demo brand):"
$PY manage.py create_staff_user demo --brand demo --role manager --password "${DEMO_PASSWORD:-demo-pass-2026}"
echo "  user: demo   password: ${DEMO_PASSWORD:-demo-pass-2026}"
echo "  admin:   http://127.0.0.1:8000/admin/"
echo "  GraphQL: http://127.0.0.1:8000/graphql/"
echo
exec $PY manage.py runserver 127.0.0.1:8000
