#!/bin/sh
# Installs the Debian 12 packages that building and testing sipchain need.
# Idempotent: a machine that already has them only pays for one dpkg query.
# Kept as the single list of packages so that configure's hints, the README
# and CI cannot drift apart.
set -eu

BUILD="build-essential pkg-config libevent-dev libssl-dev libyaml-dev"
TEST="check clang libclang-rt-14-dev sip-tester perl valgrind openssl systemd kamailio"

want="$BUILD"
[ "${1:-}" = "--build-only" ] || want="$want $TEST"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
