#!/usr/bin/env bash
# Makes sure a Redis answers where the tests of the Redis run-once store
# look for one: $RABIBRIDGE_REDIS_URL, else 127.0.0.1:6379. A local Redis
# that does not answer is started, and installed first from Debian's
# redis-server package when it is missing; where that cannot be (not
# Debian, not root) but a Docker engine answers, Redis runs in a container
# instead. A remote URL is only checked.
set -euo pipefail
. "$(dirname "$0")/debian.sh"

url=${RABIBRIDGE_REDIS_URL:-redis://127.0.0.1:6379/0}
rest=${url#*://}
rest=${rest#*@}          # drop user:password@
hostport=${rest%%/*}
host=${hostport%:*}
port=${hostport##*:}
[ "$port" != "$hostport" ] || port=6379

# answers: a PING gets +PONG (or -NOAUTH: a Redis that wants a password).
answers() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port && printf 'PING\r\n' >&3 && head -c 6 <&3" 2>/dev/null | grep -qE '^(\+PONG|-NOAUT)'
}

if answers; then
  echo "redis: Redis answers at $host:$port"
  exit 0
fi
case "$host" in
  127.*|localhost|::1|\[::1\]) ;;
  *) echo "redis: nothing answers at $host:$port, and it is not local: start it there" >&2; exit 1 ;;
esac

debian_root() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }
has_docker() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if ! command -v redis-server >/dev/null 2>&1 && ! debian_root && has_docker; then
  name=rabibridge-redis-$port
  echo "redis: starting Redis in Docker (container $name on $host:$port)"
  docker start "$name" >/dev/null 2>&1 ||
    docker run -d --name "$name" -p "$host:$port:6379" redis:7 >/dev/null || exit 1
else
  if ! command -v redis-server >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
      cat >&2 <<MSG
redis: no Redis answers at $host:$port and this is not a Debian machine, so it
cannot be installed here. Install Redis 6 or newer and start it, e.g.
  macOS:   brew install redis && brew services start redis
  Docker:  docker run -d --name redis -p 6379:6379 redis:7
  Fedora:  sudo dnf install redis && sudo systemctl start redis
or set RABIBRIDGE_REDIS_URL to a Redis that answers. (Without one, the
tests of the Redis store skip.)
MSG
      exit 1
    fi
    debian_install redis redis-server
  fi
  if ! answers; then
    echo "redis: starting redis-server on $host:$port"
    # No init system may run here: daemonise it, keeping nothing on disk.
    redis-server --daemonize yes --bind "$host" --port "$port" --save '' --appendonly no \
      --logfile "${TMPDIR:-/tmp}/rabibridge-redis-$port.log"
  fi
fi
for _ in $(seq 1 60); do
  if answers; then
    echo "redis: Redis answers at $host:$port"
    exit 0
  fi
  sleep 1
done
echo "redis: Redis did not come up at $host:$port within 60s" >&2
exit 1
