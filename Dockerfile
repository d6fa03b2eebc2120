# For users with Docker (not exercised by the tests; `make run` needs no Docker).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends gdal-bin npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock
COPY frontend/package.json frontend/package-lock.json frontend/
RUN cd frontend && npm ci --no-audit --no-fund
COPY . .
ENV DJANGO_SETTINGS_MODULE=gridops.settings.dev
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py load_demo_data && python manage.py demo_logins --url http://127.0.0.1:8000 && python manage.py serve --host 0.0.0.0 --port 8000"]
