# For users with Docker (not exercised by the tests; `make run` needs no Docker). Production settings
# (DJANGO_ENV=production): the container refuses to start without DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS,
# DATABASE_URL and REDIS_URL; see docker-compose.yml and SECURITY.md.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends gdal-bin npm postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin gridops
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock
COPY frontend/package.json frontend/package-lock.json frontend/
RUN cd frontend && npm ci --no-audit --no-fund
COPY . .
ENV DJANGO_ENV=production PYTHONUNBUFFERED=1
# Static files at build time (hashed names, compressed; served by WhiteNoise). The production settings
# need their variables to load: placeholders for this one step, never in the image's environment.
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=build.invalid \
    DATABASE_URL=postgis://build@build.invalid/build REDIS_URL=redis://build.invalid:6379/0 \
    python manage.py collectstatic --noinput -v 0
# The code and the static files stay root's, read-only to the server
USER gridops
EXPOSE 8000
CMD ["scripts/docker-start.sh", "web"]
