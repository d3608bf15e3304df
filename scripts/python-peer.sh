#!/usr/bin/env bash
# Makes sure the Python peer tests (integration/testdata/peer.py) can run:
# a python3 with msgpack and pika (the one on PATH, or Debian's
# /usr/bin/python3), installed from Debian's python3-msgpack and
# python3-pika when none has them and this is a Debian machine run as root.
# Otherwise it says what to install, and those tests skip.
set -uo pipefail

found() {
  for py in python3 /usr/bin/python3; do
    if "$py" -c 'import msgpack, pika' >/dev/null 2>&1; then
      echo "python peer: $py with msgpack and pika"
      return 0
    fi
  done
  return 1
}

found && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "python peer: installing Debian's python3-msgpack and python3-pika"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq python3-msgpack python3-pika >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq python3-msgpack python3-pika >/dev/null; }
  found && exit 0
fi
echo "python peer: the Python peer tests will skip: install python3 with msgpack and pika" \
  "(Debian: apt-get install python3-msgpack python3-pika; elsewhere: pip install msgpack pika)" >&2
exit 0
