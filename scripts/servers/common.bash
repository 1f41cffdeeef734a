# Shared by the test server scripts (sourced, not run: scripts/test starts only `*.sh`).
#
#   servers_args "$@"       checks `start|stop DIR`, sets $action and $dir
#   free_port               prints a free TCP port on 127.0.0.1
#   stop_pidfile FILE       stops the process whose pid FILE holds (TERM, then KILL after 5 s)
#   servers_dispatch        runs the script's start() or stop(); a start that fails halfway
#                           stops what it started

servers_args() {
  action=${1:-}
  dir=${2:-}
  if [ -z "$action" ] || [ -z "$dir" ]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

stop_pidfile() {
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2> /dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2> /dev/null || true
  fi
  rm -f "$file"
}

servers_dispatch() {
  case "$action" in
    start)
      started=""
      trap '[ -n "$started" ] || stop' EXIT
      start
      started=1
      ;;
    stop) stop ;;
    *)
      echo "usage: $0 start|stop DIR" >&2
      exit 2
      ;;
  esac
}
