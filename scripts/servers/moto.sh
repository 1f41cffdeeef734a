#!/usr/bin/env bash
# moto's S3 server, for what Garage does not implement (versioning, bucket policies, bucket
# tags) in the s3 provider tests (providers/tests/s3.rs). Any access and secret key work.
#
#   moto.sh start DIR   installs moto (`pip install 'moto[server]'`) when missing, runs
#                       moto_server on a free 127.0.0.1 port with its files under DIR/moto/,
#                       and writes DIR/moto.env (OBP_TEST_MOTO_ENDPOINT, and the
#                       OBP_TEST_MOTO_ACCESS_KEY/OBP_TEST_MOTO_SECRET_KEY to sign with);
#                       also installs the aws CLI (`pip install awscli`) when missing: the
#                       backup scripts' S3 client, which tests/backups_live.rs runs against moto
#   moto.sh stop DIR    stops that server (and nothing else)
set -euo pipefail
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
servers_args "$@"
home="$dir/moto"

ensure_installed() {
  if python3 -c 'import moto.server, flask, flask_cors' 2> /dev/null; then
    return
  fi
  echo "moto is not installed: pip install 'moto[server]'" >&2
  if ! python3 -m pip install --quiet 'moto[server]'; then
    echo "could not install moto; install it by hand with: pip install 'moto[server]'" >&2
    exit 1
  fi
  hash -r
  if command -v pyenv > /dev/null 2>&1; then pyenv rehash || true; fi
}

ensure_aws_cli() {
  if command -v aws > /dev/null 2>&1; then
    return
  fi
  echo "the aws CLI is not installed: pip install awscli" >&2
  if ! python3 -m pip install --quiet awscli; then
    echo "could not install the aws CLI; install it by hand with: pip install awscli" >&2
    exit 1
  fi
  hash -r
  if command -v pyenv > /dev/null 2>&1; then pyenv rehash || true; fi
}

start() {
  ensure_installed
  ensure_aws_cli
  mkdir -p "$home"
  local port
  port=$(free_port)
  # `python -m moto.server` is `moto_server`. The interpreter itself is started (not a
  # wrapper such as a pyenv shim, which would leave it running when stopped), so the
  # recorded pid is the server's.
  local python
  python=$(python3 -c 'import sys; print(sys.executable)')
  (
    cd "$home"
    nohup "$python" -m moto.server -H 127.0.0.1 -p "$port" > "$home/server.log" 2>&1 &
    echo $! > "$home/pid"
  )
  local ready=""
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/"; then ready=1; break; fi
    if ! kill -0 "$(cat "$home/pid")" 2> /dev/null; then break; fi
    sleep 0.5
  done
  if [ -z "$ready" ]; then
    echo "moto_server did not start; its log:" >&2
    tail -n 30 "$home/server.log" >&2
    exit 1
  fi
  # moto accepts any credentials; the tests still send them through secret references.
  cat > "$dir/moto.env" <<EOF
OBP_TEST_MOTO_ENDPOINT=http://127.0.0.1:$port
OBP_TEST_MOTO_ACCESS_KEY=obp-test-moto
OBP_TEST_MOTO_SECRET_KEY=$(openssl rand -hex 20)
EOF
  echo "moto $(python3 -c 'import moto; print(moto.__version__)') on http://127.0.0.1:$port"
}

stop() {
  stop_pidfile "$home/pid"
}

servers_dispatch
