#!/usr/bin/env bash
# Redis for the redis provider tests.
#
#   redis.sh start DIR   start redis-server on 127.0.0.1 and a free port, files in DIR/redis,
#                        no persistence, the default user protected by a random password;
#                        write DIR/redis.env
#   redis.sh stop DIR    stop that server (and nothing else)
#
# Variable written: OBP_TEST_REDIS_URL (redis://default:PASSWORD@127.0.0.1:PORT).
set -euo pipefail
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$(cd "$2" && pwd)
root="$dir/redis"

start() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
      echo "redis.sh: redis-server is missing; install it (apt-get install redis-server)" >&2
      exit 1
    fi
  fi
  rm -rf "$root"
  mkdir -p "$root"
  local password port
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  port=$(free_port)
  # The password goes through a config file read on stdin, never the command line.
  printf 'requirepass %s\n' "$password" | redis-server - \
    --bind 127.0.0.1 --port "$port" --protected-mode yes \
    --save '' --appendonly no --dir "$root" \
    --daemonize yes --pidfile "$root/redis.pid" --logfile "$root/redis.log"

  local i
  for i in $(seq 1 60); do
    if [ "$(REDISCLI_AUTH=$password redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
      break
    fi
    [ "$i" -eq 60 ] && { echo "redis.sh: server did not answer" >&2; cat "$root/redis.log" >&2; exit 1; }
    sleep 0.25
  done
  echo "OBP_TEST_REDIS_URL=redis://default:$password@127.0.0.1:$port" >"$dir/redis.env"
  echo "redis: listening on 127.0.0.1:$port (files in $root)"
}

stop() {
  local pidfile="$root/redis.pid"
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  # Only our server: the pid must still be a redis-server started with our pid file.
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid"
    local i
    for i in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
  fi
  rm -f "$pidfile"
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
