#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL 15 on loopback for the test suite.
#   scripts/test-postgres.sh start DIR PORT   -> prints the SQLAlchemy URL
#   scripts/test-postgres.sh stop DIR
# initdb and pg_ctl refuse to run as root, so when root they run as the postgres user.
set -euo pipefail

bindir=/usr/lib/postgresql/15/bin
action=${1:?start|stop}
dir=${2:?data directory}

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
    as_pg "$bindir/initdb" -D "$dir/data" -U sightline --auth=trust -E UTF8 >/dev/null
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" start >/dev/null
    as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U sightline sightline_test
    echo "postgresql+psycopg://sightline@127.0.0.1:$port/sightline_test"
    ;;
  stop)
    if [[ -d "$dir/data" ]]; then
      as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
