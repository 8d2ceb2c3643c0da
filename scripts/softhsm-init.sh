#!/usr/bin/env bash
# Creates a private SoftHSM2 token for tests and development:
#
#   eval "$(scripts/softhsm-init.sh /tmp/qsafe-hsm)"    # sets SOFTHSM2_CONF in this shell
#
# DIR gets softhsm2.conf (directories.tokendir = DIR/tokens, objectstore.backend = file) and
# one initialised token labelled qsafe-test (or $2), with the fixed TEST PINs below. Nothing
# system-wide is touched: SoftHSM2 reads the configuration named by SOFTHSM2_CONF when a
# process calls C_Initialize, so every process that should see this token needs it set.
# stdout is exactly one line, `export SOFTHSM2_CONF=...`; progress goes to stderr.
#
# Needs softhsm2-util (Debian/Ubuntu: apt-get install softhsm2, which also provides the module
# /usr/lib/softhsm/libsofthsm2.so). The qsafe-keys PKCS#11 tests run this script themselves.
set -euo pipefail

# Test values only: anyone reading this file knows them.
SO_PIN=qsafe-test-so-pin
USER_PIN=qsafe-test-user-pin

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 DIR [TOKEN_LABEL]" >&2
    exit 2
fi
label=${2:-qsafe-test}
if ! command -v softhsm2-util >/dev/null; then
    echo "error: softhsm2-util not found" >&2
    echo "hint: apt-get install softhsm2" >&2
    exit 1
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd)
conf="$dir/softhsm2.conf"
if [ -e "$conf" ] || [ -e "$dir/tokens" ]; then
    echo "error: $dir already holds a SoftHSM2 setup; remove it or choose another directory" >&2
    exit 1
fi
mkdir -m 700 "$dir/tokens"
cat >"$conf" <<EOF
# Written by qsafe scripts/softhsm-init.sh: a private token directory for tests.
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
SOFTHSM2_CONF="$conf" softhsm2-util --init-token --free --label "$label" \
    --so-pin "$SO_PIN" --pin "$USER_PIN" >&2
echo "export SOFTHSM2_CONF=$conf"
