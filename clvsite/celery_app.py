"""Celery application: configured from Django settings, tasks autodiscovered from apps.

Without CELERY_BROKER_URL the settings turn on eager mode so the demo runs in-process.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clvsite.settings.local")

app = Celery("clvsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
