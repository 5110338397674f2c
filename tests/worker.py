"""A real Celery worker on Redis for the integration tests (fixtures `celery_client` and `celery_worker` in
tests/conftest.py): its own queue, the test database, stopped with its whole process group."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery

from tests.db import database_url

ROOT = Path(__file__).resolve().parents[1]
REDIS = "redis://127.0.0.1:6379/15"
QUEUE = f"clv-test-{os.getpid()}"  # a queue of its own: no other worker can take these tasks


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def celery_client_start():
    """A Celery client of its own on Redis: the project's app stays eager for the rest of the suite."""
    if not _redis_answers():
        pytest.skip("No Redis answers on 127.0.0.1:6379 and none could be started (scripts/redis.sh).")
    celery = Celery("clv-test-client", broker=REDIS, backend=REDIS)
    return celery


def celery_worker_run(client):
    """A real Celery worker (3 processes) on Redis, using this test's database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clvsite.settings.local",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": REDIS,
        "CELERY_RESULT_BACKEND": REDIS,
        "LANGUAGE_CODE": "en",
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "clvsite",
            "worker",
            "-c",
            "3",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            QUEUE,
            "-n",
            f"{QUEUE}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so _stop reaches the pool processes too
    )
    try:
        deadline = time.monotonic() + 60
        while not client.control.ping(timeout=1):
            assert process.poll() is None, f"the worker exited with {process.returncode}"
            assert time.monotonic() < deadline, "the worker did not start"
        yield process
    finally:
        _stop(process)
        time.sleep(1)
        with pytest.raises(ProcessLookupError):  # nothing of the worker's group is left running
            os.killpg(process.pid, 0)


def _stop(process):
    """Stop the worker and its children (its own process group), forcefully if it lingers."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
