#!/usr/bin/env bash
# PostgreSQL for the postgres provider and the postgres state backend tests.
#
#   postgres.sh start DIR   initdb in DIR/postgres, start on 127.0.0.1 and a free port (TLS on,
#                           with a certificate for 127.0.0.1 from a throwaway CA), write DIR/postgres.env
#   postgres.sh stop DIR    stop that server (and nothing else)
#
# Variables written: OBP_TEST_PG_URL (an admin role with a password, database `postgres`) and
# OBP_TEST_PG_CA (the CA that signed the server certificate, to test sslmode=verify-full).
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system user.
set -euo pipefail
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$(cd "$2" && pwd)
root="$dir/postgres"
data="$root/data"

find_bin() {
  local candidate
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return
  fi
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/initdb" ]; then
      echo "$candidate"
      return
    fi
  done
  return 1
}

# Runs a command as the user that owns the cluster.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  local bin
  if ! bin=$(find_bin); then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      bin=$(find_bin)
    else
      echo "postgres.sh: PostgreSQL (initdb, pg_ctl) is missing; install it (apt-get install postgresql)" >&2
      exit 1
    fi
  fi
  command -v openssl >/dev/null 2>&1 || {
    echo "postgres.sh: openssl is missing (apt-get install openssl)" >&2
    exit 1
  }
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
    # The server user must be able to reach DIR/postgres.
    chmod a+x "$dir"
  fi

  rm -rf "$root"
  mkdir -p "$root"
  local password
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$password" >"$root/pwfile"
  # A throwaway CA and a server certificate for 127.0.0.1 signed by it.
  openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=obp test CA" \
    -keyout "$root/ca.key" -out "$root/ca.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$root/server.key" -out "$root/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$root/server.ext"
  openssl x509 -req -in "$root/server.csr" -CA "$root/ca.crt" -CAkey "$root/ca.key" -CAcreateserial \
    -days 3 -extfile "$root/server.ext" -out "$root/server.crt" >/dev/null 2>&1
  rm -f "$root/ca.key" "$root/server.csr" "$root/server.ext" "$root/ca.srl"
  chmod 600 "$root/server.key" "$root/pwfile"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres: "$root"
  fi

  as_owner "$bin/initdb" -D "$data" -U obp_admin --pwfile="$root/pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$root/initdb.log" 2>&1 || {
    cat "$root/initdb.log" >&2
    exit 1
  }
  rm -f "$root/pwfile"

  local port
  port=$(free_port)
  # Test server: speed over durability, loopback only, sockets inside DIR.
  as_owner "$bin/pg_ctl" -D "$data" -l "$root/server.log" -w -t 60 start -o "\
 -c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$root\
 -c max_connections=200 -c fsync=off -c full_page_writes=off -c synchronous_commit=off\
 -c ssl=on -c ssl_cert_file=$root/server.crt -c ssl_key_file=$root/server.key" >/dev/null || {
    cat "$root/server.log" >&2
    exit 1
  }

  # Wait until it accepts password logins over TCP.
  local i
  for i in $(seq 1 60); do
    if PGPASSWORD=$password "$bin/psql" -h 127.0.0.1 -p "$port" -U obp_admin -d postgres -tAc 'select 1' >/dev/null 2>&1; then
      break
    fi
    [ "$i" -eq 60 ] && { echo "postgres.sh: server did not answer" >&2; cat "$root/server.log" >&2; exit 1; }
    sleep 0.5
  done

  {
    echo "OBP_TEST_PG_URL=postgres://obp_admin:$password@127.0.0.1:$port/postgres"
    echo "OBP_TEST_PG_CA=$root/ca.crt"
    # The server's own tools (initdb, pg_ctl, pg_dump …): apt's packages keep them off PATH.
    echo "OBP_TEST_PG_BIN=$bin"
  } >"$dir/postgres.env"
  echo "postgres: listening on 127.0.0.1:$port (data in $data)"
}

stop() {
  [ -d "$data" ] || return 0
  local bin
  bin=$(find_bin) || return 0
  if [ -f "$data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || true
  fi
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
