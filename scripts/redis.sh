#!/usr/bin/env bash
# Make sure a Redis answers at REDIS_URL's host:port (default 127.0.0.1:6379); start a project-local
# one (no persistence, data under var/redis) when nothing answers.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${REDIS_PORT:-6379}"
if redis-cli -h 127.0.0.1 -p "$PORT" ping >/dev/null 2>&1; then
  exit 0
fi
mkdir -p "$ROOT/var/redis"
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
  --dir "$ROOT/var/redis" --logfile "$ROOT/var/redis/redis.log"
for _ in $(seq 1 50); do
  redis-cli -h 127.0.0.1 -p "$PORT" ping >/dev/null 2>&1 && exit 0
  sleep 0.1
done
echo "redis.sh: Redis did not start on port $PORT (see var/redis/redis.log)" >&2
exit 1
