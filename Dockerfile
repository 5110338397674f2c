# The product's one image: web (gunicorn), Celery workers and beat all run it with a different command
# (docker-compose.yml, Procfile). Production settings; PostgreSQL and the broker come from the environment.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=clvsite.settings.production \
    PIP_NO_CACHE_DIR=1

RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 clv
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# static files and translations are built into the image (a throwaway key: only for these two commands)
RUN SECRET_KEY=build-only-$(python -c "import secrets; print(secrets.token_urlsafe(64))") \
    DATABASE_URL=postgres://unused@127.0.0.1:5432/unused \
    python manage.py collectstatic --noinput \
    && python manage.py compilemessages --ignore=.venv \
    && chown -R clv /app
USER clv
EXPOSE 8000
CMD ["gunicorn", "clvsite.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "120", "--access-logfile", "-"]
