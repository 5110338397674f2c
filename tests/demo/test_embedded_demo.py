"""The demo as a new user runs it, on the embedded PostgreSQL (no DATABASE_URL, a fresh data folder): migrate,
seed the demo brand, refresh its scores; then every GraphQL report of the README and every dashboard panel
returns data. Child processes run it, as scripts/demo.sh does, whatever database the rest of the suite uses."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture
def embedded_env():
    folder = tempfile.mkdtemp(prefix="clvpg-", dir="/tmp")  # short: the server's socket lives in it
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="clvsite.settings.local",
        EMBEDDED_POSTGRES_DATA=str(Path(folder) / "pgdata"),
        LANGUAGE_CODE="en",
        ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
    )
    yield env
    shutil.rmtree(folder, ignore_errors=True)


def manage(env, *args, timeout=600):
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_every_report_and_dashboard_panel_shows_data_on_the_embedded_database(embedded_env):
    # Given a fresh embedded PostgreSQL with the demo brand seeded and scored, as scripts/demo.sh does
    manage(embedded_env, "migrate", "--noinput", "-v0")
    seeded = manage(
        embedded_env, "seed_demo", "--customers", "5000", "--seed", "42", "--brand", "demo", "--score"
    )
    assert seeded.count(": Published, ") == 2, seeded
    # When a frontend calls the README's queries and staff open the dashboard
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "demo" / "probe_reports.py"), "demo"],
        cwd=ROOT,
        env=embedded_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # Then every report returns rows, without an error or a "cannot be made" note
    expected = {
        "customers (AtRiskHighValue)",
        "customer (Customer360)",
        "tierStageDistribution",
        "kaplanMeier",
        "cohortRetention",
        "streamPerformance",
        "atRiskCustomers",
        "followupResults (FollowupResults)",
        "experimentResults (ExperimentsAndFunnel)",
        "streamFunnel (ExperimentsAndFunnel)",
        "customer next action and recommendations (Customer360)",
        "dashboard: distribution",
        "dashboard: cohorts",
        "dashboard: survival",
        "dashboard: gmv",
        "dashboard: repurchase",
        "dashboard: streams",
        "dashboard: at_risk",
        "dashboard: latest_run",
    }
    assert set(found) == expected
    empty = {name: report for name, report in found.items() if not report["rows"]}
    assert empty == {}
    failed = {name: report for name, report in found.items() if report.get("errors") or report.get("note")}
    assert failed == {}
    # and the embedded server stopped with the last process that used it
    assert not (Path(embedded_env["EMBEDDED_POSTGRES_DATA"]) / "postmaster.pid").exists()
