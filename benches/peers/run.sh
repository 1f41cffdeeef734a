#!/usr/bin/env bash
# obp side by side with KCL and Jsonnet on one multi-tenant workload (benches/peers/gen.py).
#
#   benches/peers/run.sh [N ...]      default sizes: 100 1000 5000
#
# Installs kcl-lib and jsonnet (and PyYAML, to read the outputs) from PyPI into a virtual
# environment outside the repo (${OBP_CACHE_DIR:-$HOME/.cache/obp}/peers-venv), builds obp in
# release mode, renders the workload with each tool at each size, checks that the three
# outputs hold the same documents, and prints wall time and peak RSS as a Markdown table.
# One run per size and phase may take minutes; OBP_PEERS_TIMEOUT (seconds, default 900) bounds
# each.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
venv="${OBP_CACHE_DIR:-$HOME/.cache/obp}/peers-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import kcl_lib, _jsonnet, yaml' 2> /dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kcl-lib==0.13.2 jsonnet==0.22.0 pyyaml==6.0.3
fi
(cd "$repo" && cargo build --release --locked -q)
[ $# -gt 0 ] || set -- 100 1000 5000
work=$(mktemp -d -t obp-peers.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" "$here/peers.py" "$repo/target/release/obp" "$work" "$@"
