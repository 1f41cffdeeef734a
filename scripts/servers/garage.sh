#!/usr/bin/env bash
# Garage, an S3-compatible object store, for the s3 provider tests (providers/tests/s3.rs).
#
#   garage.sh start DIR   installs garage when missing (`cargo install garage --locked`: about
#                         8 minutes on two cores, once per machine), runs a single node on free
#                         127.0.0.1 ports with everything under DIR/garage/, creates the key
#                         `obp-test` allowed to create buckets, and writes DIR/garage.env
#   garage.sh stop DIR    stops that node (and nothing else)
#
# DIR/garage.env: OBP_TEST_S3_ENDPOINT, OBP_TEST_S3_REGION, OBP_TEST_S3_ACCESS_KEY,
# OBP_TEST_S3_SECRET_KEY.
set -euo pipefail
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
servers_args "$@"
home="$dir/garage"
region=garage

ensure_installed() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if command -v garage > /dev/null 2>&1; then
    return
  fi
  echo "garage is not installed: building it with cargo install garage --locked (about 8 minutes on two cores)" >&2
  local started=$SECONDS
  if ! cargo install garage --locked; then
    echo "could not install garage; install it by hand with: cargo install garage --locked" >&2
    exit 1
  fi
  echo "garage installed in $((SECONDS - started)) s" >&2
}

start() {
  ensure_installed
  rm -rf "$home"
  mkdir -p "$home/meta" "$home/data"
  local rpc s3 admin secret token config
  rpc=$(free_port)
  s3=$(free_port)
  admin=$(free_port)
  while [ "$s3" = "$rpc" ]; do s3=$(free_port); done
  while [ "$admin" = "$rpc" ] || [ "$admin" = "$s3" ]; do admin=$(free_port); done
  secret=$(openssl rand -hex 32)
  token=$(openssl rand -hex 32)
  config="$home/garage.toml"
  umask 077
  cat > "$config" <<EOF
metadata_dir = "$home/meta"
data_dir = "$home/data"
db_engine = "sqlite"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"

[s3_api]
s3_region = "$region"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
admin_token = "$token"
EOF
  local g=(garage -c "$config")
  RUST_LOG=${GARAGE_LOG:-warn} nohup "${g[@]}" server > "$home/server.log" 2>&1 &
  echo $! > "$home/pid"

  local ready=""
  for _ in $(seq 1 120); do
    if "${g[@]}" status > /dev/null 2>&1; then ready=1; break; fi
    if ! kill -0 "$(cat "$home/pid")" 2> /dev/null; then break; fi
    sleep 0.5
  done
  if [ -z "$ready" ]; then
    echo "garage did not start; its log:" >&2
    tail -n 30 "$home/server.log" >&2
    exit 1
  fi

  local node
  node=$("${g[@]}" node id -q 2> /dev/null | head -n 1)
  node=${node%%@*}
  "${g[@]}" layout assign -z dc1 -c 1G "$node" > "$home/layout.log"
  "${g[@]}" layout apply --version 1 >> "$home/layout.log"
  for _ in $(seq 1 120); do
    if "${g[@]}" health -q > /dev/null 2>&1; then break; fi
    sleep 0.5
  done

  local info key secret_key
  info=$("${g[@]}" key create obp-test)
  key=$(printf '%s\n' "$info" | sed -n 's/^Key ID:[[:space:]]*//p' | head -n 1)
  secret_key=$(printf '%s\n' "$info" | sed -n 's/^Secret key:[[:space:]]*//p' | head -n 1)
  if [ -z "$key" ] || [ -z "$secret_key" ]; then
    echo "could not read the key garage created (has the output of \`garage key create\` changed?)" >&2
    exit 1
  fi
  "${g[@]}" key allow --create-bucket obp-test > /dev/null

  # The S3 API answers (an unsigned request is refused, which is an answer).
  for _ in $(seq 1 60); do
    if curl -s -o /dev/null "http://127.0.0.1:$s3/"; then break; fi
    sleep 0.5
  done

  cat > "$dir/garage.env" <<EOF
OBP_TEST_S3_ENDPOINT=http://127.0.0.1:$s3
OBP_TEST_S3_REGION=$region
OBP_TEST_S3_ACCESS_KEY=$key
OBP_TEST_S3_SECRET_KEY=$secret_key
EOF
  echo "$(garage --version 2> /dev/null | head -n 1) on http://127.0.0.1:$s3 (region $region)"
}

stop() {
  stop_pidfile "$home/pid"
}

servers_dispatch
