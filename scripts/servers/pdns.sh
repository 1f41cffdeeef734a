#!/usr/bin/env bash
# PowerDNS authoritative server with the SQLite backend and its HTTP API, for the DNS
# provider tests. Usage: pdns.sh start|stop DIR (see README.md beside this script).
set -euo pipefail
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
command=${1:?start or stop}
dir=${2:?a directory}
home="$dir/pdns"

case "$command" in
start)
  if ! command -v pdns_server >/dev/null || ! command -v sqlite3 >/dev/null \
     || [ ! -e /usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pdns-server pdns-backend-sqlite3 sqlite3 >/dev/null
      # The package starts a system instance; the tests use their own.
      (service pdns stop || pkill -x pdns_server || true) >/dev/null 2>&1
    else
      echo "PowerDNS is missing: run as root, or apt-get install pdns-server pdns-backend-sqlite3 sqlite3" >&2
      exit 1
    fi
  fi
  # A fresh database each start: a previous run's zones must not leak into this one.
  rm -rf "$home"
  mkdir -p "$home"
  sqlite3 "$home/pdns.sqlite3" < /usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql
  api_port=$(free_port)
  dns_port=$(free_port)
  key=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  cat > "$home/pdns.conf" <<CONF
launch=gsqlite3
gsqlite3-database=$home/pdns.sqlite3
gsqlite3-pragma-journal-mode=WAL
api=yes
api-key=$key
webserver=yes
webserver-address=127.0.0.1
webserver-port=$api_port
webserver-allow-from=127.0.0.0/8
local-address=127.0.0.1
local-port=$dns_port
socket-dir=$home
daemon=no
guardian=no
disable-syslog=yes
CONF
  pdns_server --config-dir="$home" >"$home/log" 2>&1 &
  echo $! >"$home/pid"
  for _ in $(seq 1 100); do
    if curl -fsS -H "X-API-Key: $key" "http://127.0.0.1:$api_port/api/v1/servers/localhost" >/dev/null 2>&1; then
      {
        echo "OBP_TEST_PDNS_URL=http://127.0.0.1:$api_port"
        echo "OBP_TEST_PDNS_KEY=$key"
        echo "OBP_TEST_PDNS_DNS_PORT=$dns_port"
      } >"$dir/pdns.env"
      exit 0
    fi
    sleep 0.1
  done
  echo "PowerDNS did not answer; its log:" >&2
  cat "$home/log" >&2
  exit 1
  ;;
stop)
  if [ -f "$home/pid" ]; then
    kill "$(cat "$home/pid")" 2>/dev/null || true
  fi
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
