#!/usr/bin/env bash
# Install the Debian packages Sightline needs (idempotent). Runs as root on a fresh machine;
# PostgreSQL is only needed by the test suite (pass --with-postgres).
set -euo pipefail

# gcc, libc6-dev and python3-dev build the native index extension (sightline.indexes._mih);
# apache2-utils brings `ab`, the load generator of `python -m benchmarks.api`; libgcc-12-dev
# (normally pulled in by gcc) holds libasan and libubsan for scripts/test-sanitizers.sh;
# libchromaprint1 computes soundtrack fingerprints (through pyacoustid).
packages=(python3-venv gcc libc6-dev python3-dev apache2-utils libgcc-12-dev libchromaprint1)
# --with-postgres: what only the test suite needs: PostgreSQL 15 (throw-away servers), and the
# makers of benign test media: ffmpeg (transforms), espeak-ng (speech), sox (mixing audio).
if [[ "${1:-}" == "--with-postgres" ]]; then
  packages+=(postgresql-15 ffmpeg espeak-ng sox)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's package starts a cluster on 5432; the tests use their own throw-away server.
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
    pg_ctlcluster 15 main stop 2>/dev/null || true
  fi
fi
