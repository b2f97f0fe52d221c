#!/bin/sh
# Installs the Debian 12 packages that building and testing sipchain need.
# Idempotent: a machine that already has them only pays for one dpkg query.
# Kept as the single list of packages so that configure's hints, the README
# and CI cannot drift apart.
set -eu

BUILD="build-essential pkg-config libevent-dev libssl-dev libyaml-dev"
TEST="check clang libclang-rt-14-dev sip-tester perl libio-socket-ssl-perl valgrind openssl systemd kamailio baresip-core dnsmasq-base iproute2 logrotate rtpengine-daemon"

want="$BUILD"
[ "${1:-}" = "--build-only" ] || want="$want $TEST"
# drachtio-srf for t/drachtio.t: Node.js and npm (Debian's, unless the
# machine has them already from elsewhere)
[ "${1:-}" = "--build-only" ] || { command -v node >/dev/null && command -v npm >/dev/null; } ||
    want="$want nodejs npm"

# The pinned drachtio-srf, drachtio's published middleware that
# t/drachtio_server.t's registrar runs and the published application that
# t/drachtio_app.t runs (drachtio-siprec-recording-server)
# (t/drachtio/package-lock.json), from the npm registry.
srf() {
    [ "${1:-}" = "--build-only" ] && return 0
    dir="$(dirname "$0")/../t/drachtio"
    [ -d "$dir/node_modules/drachtio-srf" ] && [ -d "$dir/node_modules/drachtio-mw-digest-auth" ] &&
        [ -d "$dir/node_modules/drachtio-mw-registration-parser" ] &&
        [ -f "$dir/node_modules/drachtio-siprec-recording-server/app.js" ] && return 0
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing="$missing $p"
done
if [ -z "$missing" ]; then
    srf "${1:-}"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
srf "${1:-}"
