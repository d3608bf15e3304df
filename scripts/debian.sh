# Sourced by broker.sh and redis.sh: debian_install LABEL PACKAGE installs
# Debian's PACKAGE as root, or says what to run and fails. Where there is
# no init system the package's own start of its service may fail; the
# callers start the server themselves.
debian_install() {
  local label=$1 pkg=$2
  if [ "$(id -u)" != 0 ]; then
    echo "$label: $pkg is not installed; run as root, or: sudo apt-get install $pkg" >&2
    exit 1
  fi
  echo "$label: installing Debian's $pkg"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$pkg" >/dev/null || apt-get install -y "$pkg"
}
