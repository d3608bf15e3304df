#!/usr/bin/env bash
# Makes sure a RabbitMQ answers where the tests look for one: $RABIBRIDGE_URL,
# else 127.0.0.1:5672. A local broker that does not answer is started, and
# installed first from Debian's rabbitmq-server package when it is missing;
# where that cannot be (not Debian, not root) but a Docker engine answers,
# RabbitMQ runs in a container instead (RABIBRIDGE_BROKER=docker chooses
# that always). A remote URL is only checked.
set -euo pipefail
. "$(dirname "$0")/debian.sh"

url=${RABIBRIDGE_URL:-amqp://guest:guest@127.0.0.1:5672/}
rest=${url#*://}
rest=${rest#*@}          # drop user:password@
hostport=${rest%%/*}
host=${hostport%:*}
port=${hostport##*:}
[ "$port" != "$hostport" ] || port=5672
case "$url" in amqps://*) [ "$port" != "$hostport" ] || port=5671 ;; esac

answers() { timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; }

if answers; then
  echo "broker: RabbitMQ answers at $host:$port"
  exit 0
fi
case "$host" in
  127.*|localhost|::1|\[::1\]) ;;
  *) echo "broker: nothing answers at $host:$port, and it is not local: start it there" >&2; exit 1 ;;
esac

# in_docker runs RabbitMQ in a container of its own, published on the port,
# and waits until the node runs (the port opens before RabbitMQ does).
in_docker() {
  name=rabibridge-rabbitmq-$port
  echo "broker: starting RabbitMQ in Docker (container $name on $host:$port)"
  docker start "$name" >/dev/null 2>&1 ||
    docker run -d --name "$name" -p "$host:$port:5672" rabbitmq:3 >/dev/null || exit 1
  for _ in $(seq 1 120); do
    if docker exec "$name" rabbitmq-diagnostics -q check_running >/dev/null 2>&1 && answers; then
      echo "broker: RabbitMQ answers at $host:$port (docker rm -f $name removes it)"
      exit 0
    fi
    sleep 1
  done
  echo "broker: RabbitMQ in container $name did not come up within 120s: docker logs $name" >&2
  exit 1
}
debian_root() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }
has_docker() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if [ "${RABIBRIDGE_BROKER:-}" = docker ]; then
  has_docker || { echo "broker: RABIBRIDGE_BROKER=docker, but no Docker engine answers (docker info)" >&2; exit 1; }
  in_docker
fi
if ! command -v rabbitmq-server >/dev/null 2>&1 && ! debian_root && has_docker; then
  in_docker
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    cat >&2 <<MSG
broker: no RabbitMQ answers at $host:$port and this is not a Debian machine, so it
cannot be installed here. Install RabbitMQ 3.10 or newer and start it, e.g.
  macOS:   brew install rabbitmq && brew services start rabbitmq
  Docker:  docker run -d --name rabbitmq -p 5672:5672 rabbitmq:3
  Fedora:  sudo dnf install rabbitmq-server && sudo systemctl start rabbitmq-server
or set RABIBRIDGE_URL to a broker that answers. (\`make unit\` runs the tests
without one: the integration tests then skip.)
MSG
    exit 1
  fi
  debian_install broker rabbitmq-server
fi

if ! answers; then
  echo "broker: starting rabbitmq-server"
  rabbitmq-server -detached
fi
for _ in $(seq 1 120); do
  if answers; then
    # The port opens before the node is ready for clients: wait for the app.
    if command -v rabbitmq-diagnostics >/dev/null 2>&1; then
      timeout 60 rabbitmq-diagnostics -q check_running >/dev/null 2>&1 || true
    fi
    echo "broker: RabbitMQ answers at $host:$port"
    exit 0
  fi
  sleep 1
done
echo "broker: RabbitMQ did not come up at $host:$port within 120s" >&2
exit 1
