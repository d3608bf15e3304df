#!/usr/bin/env bash
# Makes sure the console's browser test (cmd/rabibridge TestConsoleInBrowser)
# can run: Debian's chromium, installed with apt when it is missing and this
# is a Debian machine run as root. Otherwise it says what to install, and
# that test skips, saying why.
set -uo pipefail

found() {
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then
      echo "browser: $(command -v "$b")"
      return 0
    fi
  done
  return 1
}

found && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "browser: installing Debian's chromium for the console's browser test"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }
  found && exit 0
fi
echo "browser: the console's browser test will skip: install chromium (Debian: apt-get install chromium)" >&2
exit 0
