#!/usr/bin/env bash
# Everything `make test` runs: lint, formatting, types, layer contracts, then the whole suite
# against SQLite and a throw-away PostgreSQL 15 on loopback (stopped on exit, even on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin

echo "== ruff"
"$bin/ruff" check src tests benchmarks
"$bin/ruff" format --check src tests benchmarks
echo "== mypy --strict"
"$bin/mypy"
echo "== import-linter"
"$bin/lint-imports"
echo "== _mih under AddressSanitizer and UBSan (build/asan)"; scripts/test-sanitizers.sh

pgdir=$(mktemp -d /tmp/sightline-pg.XXXXXX)
chmod 755 "$pgdir"
trap 'scripts/test-postgres.sh stop "$pgdir/pg"; rm -rf "$pgdir"' EXIT
port=$(( 20000 + RANDOM % 20000 ))
echo "== PostgreSQL 15 on 127.0.0.1:$port"
SIGHTLINE_TEST_POSTGRES_URL=$(scripts/test-postgres.sh start "$pgdir/pg" "$port")
export SIGHTLINE_TEST_POSTGRES_URL

echo "== pytest"
# Two test processes on two cores: FAISS and OpenCV must not each start a thread per core
# (measured: an HNSW contract class took 100 s oversubscribed, 21 s with one thread).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"$bin/pytest" -n 2 "$@"
