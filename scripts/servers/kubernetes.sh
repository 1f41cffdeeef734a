#!/usr/bin/env bash
# A real Kubernetes control plane for the Kubernetes provider tests: etcd, kube-apiserver, and
# kube-controller-manager running only what deletes need (garbage collector, namespace teardown,
# claim and volume protection); no kubelet and no workload controllers.
#
#   kubernetes.sh start DIR   builds the upstream kube-apiserver, kube-controller-manager and etcd
#                             from the Go modules in tests/support/kube/ when they are not in the
#                             cache yet, starts etcd and kube-apiserver on free 127.0.0.1 ports with
#                             everything under DIR/kubernetes/ (throwaway CA and serving
#                             certificate, service-account key pair, static admin token in
#                             system:masters, RBAC), waits for /readyz, installs the CRDs of
#                             tests/support/crds/ and waits until they are Established, starts the
#                             controller-manager (a few controllers, see below), then writes
#                             DIR/kubernetes.env
#   kubernetes.sh stop DIR    stops those processes (and nothing else)
#
# DIR/kubernetes.env: KUBECONFIG and OBP_TEST_KUBECONFIG, both DIR/kubernetes/kubeconfig (the
# server, its CA, the admin token); the tests read OBP_TEST_KUBECONFIG. OBP_TEST_KUBE_AUDIT_LOG:
# the API server's audit log (JSON lines, one event per request at ResponseComplete, written in
# blocking mode, at worst a moment after the client has its response), which the tests read to
# see the exact requests obp sent. The kubeconfig's current context is the
# admin `obp-admin`, which obp uses and which is audited at level Request (request bodies, no
# responses; Secrets at Metadata); its `obp-tests` context is another admin for the tests' own
# setup and checks, not audited, and neither are the controller-manager (a user of its own), the
# API server itself, leases, events and non-resource URLs (health, discovery, metrics), which
# keeps the log small.
#
# The binaries are built once per machine into
#   ${OBP_CACHE_DIR:-$HOME/.cache/obp}/kubernetes/<release>-<hash of the modules' go.mod/go.sum>/
# with `CGO_ENABLED=0 go build -trimpath` (Go from the go line of tests/support/kube/*/go.mod;
# modules through the Go module proxy), `-p ${OBP_KUBE_BUILD_JOBS:-nproc}` jobs.
# Measured on a two-core machine shared with other builds (load 6-11), `-p 1`, nice 15:
#   cold build, module download included (empty module and build caches): 27 min wall
#   (etcd 1 min 41 s, kube-apiserver 20 min 29 s, then kube-controller-manager 5 min 10 s;
#   13.5 min of CPU), peak memory 2.7 GB; about 0.7 GB of modules and 3 GB of Go build cache
#   are left in Go's own caches
#   start with the binaries cached: 7-9 s (to /readyz, CRDs Established, controllers healthy)
set -euo pipefail
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
servers_args "$@"
dir=$(cd "$dir" && pwd)
root="$dir/kubernetes"
repo=$(cd "$(dirname "$0")/../.." && pwd)
modules="$repo/tests/support/kube"
crds="$repo/tests/support/crds"

fail() {
  echo "kubernetes.sh: $*" >&2
  exit 1
}

# The version a module requires, read from its go.mod (`require PATH vX.Y.Z`, alone or in a
# require block).
required() {
  sed -n "s#^\\(require \\|[[:space:]]*\\)$2 \\(v[^ ]*\\).*#\\2#p" "$modules/$1/go.mod" | head -n 1
}

k8s_version=$(required apiserver k8s.io/kubernetes)
etcd_version=$(required etcd go.etcd.io/etcd/server/v3)
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] || fail "cannot read the pinned versions from $modules/*/go.mod"
# The cache key changes with the modules (and so with every dependency's version and sum).
key=$(cat "$modules"/apiserver/go.mod "$modules"/apiserver/go.sum "$modules"/etcd/go.mod "$modules"/etcd/go.sum |
  sha256sum | cut -c1-12)
cache="${OBP_CACHE_DIR:-${HOME:?set HOME or OBP_CACHE_DIR (where the built binaries are kept)}/.cache/obp}/kubernetes/$k8s_version-$key"

# Whether every binary is in the cache.
built() {
  [ -x "$cache/kube-apiserver" ] && [ -x "$cache/kube-controller-manager" ] && [ -x "$cache/etcd" ]
}

# Builds kube-apiserver, kube-controller-manager and etcd into $cache unless they are there. Several checkouts on one
# machine share the cache: a lock keeps two builds from racing, and the binaries appear in
# $cache only once all are complete.
ensure_built() {
  if built; then
    return
  fi
  command -v go > /dev/null 2>&1 ||
    fail "Go is missing: building kube-apiserver $k8s_version needs Go ($(grep -m1 '^go ' "$modules/apiserver/go.mod")) and the Go module proxy"
  mkdir -p "$(dirname "$cache")"
  exec 9> "$cache.lock"
  flock 9
  if built; then
    exec 9>&-
    return
  fi
  local work log started=$SECONDS
  work=$(mktemp -d "$cache.build.XXXXXX")
  log="$work/build.log"
  echo "kubernetes: building kube-apiserver and kube-controller-manager $k8s_version and etcd $etcd_version into $cache (once per machine: about 25 minutes on two cores, 2.7 GB of memory)" >&2
  local minor=${k8s_version#v1.}
  minor=${minor%%.*}
  local v=k8s.io/component-base/version c=k8s.io/client-go/pkg/version
  local ldflags="-s -w -X $v.gitVersion=$k8s_version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
  ldflags="$ldflags -X $c.gitVersion=$k8s_version -X $c.gitMajor=1 -X $c.gitMinor=$minor -X $c.gitTreeState=clean"
  local jobs=${OBP_KUBE_BUILD_JOBS:-$(nproc)}
  # GOTOOLCHAIN=local: an older Go fails here with its own message instead of fetching another.
  if ! (
    export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
    cd "$modules/etcd" &&
      nice -n 15 go build -p "$jobs" -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version" \
        -o "$work/etcd" go.etcd.io/etcd/server/v3 &&
      cd "$modules/apiserver" &&
      nice -n 15 go build -p "$jobs" -trimpath -ldflags "$ldflags" -o "$work/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  ) > "$log" 2>&1 < /dev/null; then
    tail -n 40 "$log" >&2
    rm -rf "$work"
    fail "building kube-apiserver $k8s_version / etcd $etcd_version failed (output above); it needs Go and the Go module proxy (GOPROXY)"
  fi
  rm -f "$log"
  rm -rf "$cache"
  mv "$work" "$cache"
  exec 9>&-
  echo "kubernetes: built in $((SECONDS - started)) s" >&2
}

# Makes the throwaway PKI: a CA, a serving certificate it signs (rustls refuses a self-signed
# CA used directly as the server certificate), the service-account key pair, an admin token.
make_pki() {
  local pki="$root/pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=obp test kubernetes CA" \
      -keyout ca.key -out ca.crt > /dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
      -keyout server.key -out server.csr > /dev/null 2>&1
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
      "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3 \
      -extfile server.ext -out server.crt > /dev/null 2>&1
    openssl genrsa -out sa.key 2048 > /dev/null 2>&1
    openssl rsa -in sa.key -pubout -out sa.pub > /dev/null 2>&1
    rm -f ca.key ca.srl server.csr server.ext
    # token,user,uid,"group": the admin obp uses, the tests' own admin, the controller-manager;
    # three users so that the audit policy can tell them apart.
    local user
    for user in obp-admin obp-tests system:kube-controller-manager; do
      printf '%s,%s,%s,"system:masters"\n' "$(openssl rand -hex 24)" "$user" "$user"
    done > tokens.csv
  ) || fail "could not create the certificates (openssl)"
}

# The token of USER in the token file.
token_of() {
  awk -F, -v user="$1" '$2 == user { print $1 }' "$root/pki/tokens.csv"
}

# Writes the audit policy: see the header for who and what is left out. Rules apply in order,
# the first that matches decides.
write_audit_policy() {
  cat > "$1" << 'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: [system:apiserver, system:kube-controller-manager, obp-tests]
  - level: None
    resources:
      - group: coordination.k8s.io
        resources: [leases]
      - group: ""
        resources: [events]
      - group: events.k8s.io
        resources: [events]
  - level: None
    nonResourceURLs: ["*"]
  # A Secret's data would be in the request body.
  - level: Metadata
    resources:
      - group: ""
        resources: [secrets]
  - level: Request
EOF
}

# Writes a kubeconfig for the server on PORT: one context per "NAME=USER" argument, the first
# one current.
write_kubeconfig() {
  local file=$1 port=$2
  shift 2
  local pair context user
  (
    umask 077
    cat << EOF
apiVersion: v1
kind: Config
clusters:
  - name: obp-test
    cluster:
      server: https://127.0.0.1:$port
      certificate-authority-data: $(base64 -w0 < "$root/pki/ca.crt")
users:
EOF
    for pair in "$@"; do
      user=${pair#*=}
      printf '  - name: %s\n    user:\n      token: %s\n' "$user" "$(token_of "$user")"
    done
    echo "contexts:"
    for pair in "$@"; do
      context=${pair%%=*}
      user=${pair#*=}
      printf '  - name: %s\n    context:\n      cluster: obp-test\n      user: %s\n      namespace: default\n' "$context" "$user"
    done
    echo "current-context: ${1%%=*}"
  ) > "$file"
}

# Starts a program in the background with its output in LOG and its pid in PIDFILE.
spawn() {
  local pidfile=$1 log=$2
  shift 2
  "$@" < /dev/null > "$log" 2>&1 &
  echo $! > "$pidfile"
}

# Fails with the tail of LOG unless the process of PIDFILE is still running.
alive() {
  local what=$1 pidfile=$2 log=$3
  kill -0 "$(cat "$pidfile")" 2> /dev/null && return
  tail -n 30 "$log" >&2
  fail "$what exited while starting (log above: $log)"
}

# Polls URL (through curl ARGS) until it answers `ok`; fails with LOG's tail when the
# process of PIDFILE exits or after SECONDS.
wait_ok() {
  local what=$1 seconds=$2 pidfile=$3 log=$4 url=$5
  shift 5
  local deadline=$((SECONDS + seconds))
  until [ "$(curl -sS --max-time 5 "$@" "$url" 2> /dev/null)" = ok ]; do
    alive "$what" "$pidfile" "$log"
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$log" >&2
      fail "$what did not become ready within $seconds s (log above: $log)"
    fi
    sleep 0.5
  done
}

start() {
  command -v openssl > /dev/null 2>&1 || fail "openssl is missing (apt-get install openssl)"
  command -v curl > /dev/null 2>&1 || fail "curl is missing (apt-get install curl)"
  ensure_built
  local begin=$SECONDS
  # A server this DIR still runs from an earlier start would lose its pid files below.
  stop
  rm -rf "$root"
  mkdir -p "$root/etcd"
  make_pki
  local pki="$root/pki"
  printf 'Authorization: Bearer %s\n' "$(token_of obp-tests)" > "$pki/auth-header"
  chmod 600 "$pki/auth-header"

  local etcd_port peer_port port
  etcd_port=$(free_port)
  peer_port=$(free_port)
  while [ "$peer_port" = "$etcd_port" ]; do peer_port=$(free_port); done
  port=$(free_port)
  while [ "$port" = "$etcd_port" ] || [ "$port" = "$peer_port" ]; do port=$(free_port); done

  # A test store: no fsync, loopback only.
  spawn "$root/etcd.pid" "$root/etcd.log" "$cache/etcd" --name obp-test \
    --data-dir "$root/etcd/data" --unsafe-no-fsync --log-level warn \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "obp-test=http://127.0.0.1:$peer_port"
  # etcd's /health answers JSON: any 200 will do.
  local deadline=$((SECONDS + 60))
  until curl -sf --max-time 5 "http://127.0.0.1:$etcd_port/health" > /dev/null 2>&1; do
    alive etcd "$root/etcd.pid" "$root/etcd.log"
    [ $SECONDS -lt $deadline ] || { tail -n 30 "$root/etcd.log" >&2; fail "etcd did not answer within 60 s"; }
    sleep 0.2
  done

  local audit_log="$root/audit/audit.log"
  mkdir -p "$root/audit"
  write_audit_policy "$root/audit-policy.yaml"

  # No kubelet and no token controllers: the ServiceAccount admission plugin would wait for
  # tokens that never come, so it is off (as in controller-runtime's envtest). The
  # `kubernetes` Service's endpoints cannot be a loopback address: no endpoint reconciler.
  spawn "$root/kube-apiserver.pid" "$root/kube-apiserver.log" "$cache/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
    --cert-dir "$pki" --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key" \
    --token-auth-file "$pki/tokens.csv" --authorization-mode RBAC \
    --service-cluster-ip-range 10.0.0.0/24 \
    --service-account-issuer "https://127.0.0.1:$port" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --disable-admission-plugins ServiceAccount --endpoint-reconciler-type none \
    --allow-privileged=true --profiling=false \
    --audit-policy-file "$root/audit-policy.yaml" --audit-log-path "$audit_log" \
    --audit-log-format json --audit-log-mode blocking
  local api=(--cacert "$pki/ca.crt" -H "@$pki/auth-header")
  wait_ok kube-apiserver 180 "$root/kube-apiserver.pid" "$root/kube-apiserver.log" "https://127.0.0.1:$port/readyz" "${api[@]}"

  local crd name
  for crd in "$crds"/*.yaml; do
    name=$(basename "$crd" .yaml)
    curl -sS --fail-with-body --max-time 30 "${api[@]}" -X PATCH \
      -H 'Content-Type: application/apply-patch+yaml' --data-binary "@$crd" \
      "https://127.0.0.1:$port/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name?fieldManager=obp-tests&force=true" \
      > "$root/crd-$name.json" || { cat "$root/crd-$name.json" >&2; echo >&2; fail "the API server refused $crd"; }
  done
  for crd in "$crds"/*.yaml; do
    name=$(basename "$crd" .yaml)
    deadline=$((SECONDS + 60))
    until curl -sS --max-time 5 "${api[@]}" \
      "https://127.0.0.1:$port/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name" |
      python3 -c 'import json, sys; c = json.load(sys.stdin).get("status", {}).get("conditions", []); sys.exit(0 if any(x["type"] == "Established" and x["status"] == "True" for x in c) else 1)'; do
      [ $SECONDS -lt $deadline ] || fail "CustomResourceDefinition $name was not Established within 60 s"
      sleep 0.2
    done
  done

  local kubeconfig="$root/kubeconfig" kcm_kubeconfig="$root/kcm.kubeconfig"
  write_kubeconfig "$kubeconfig" "$port" obp-test=obp-admin obp-tests=obp-tests
  write_kubeconfig "$kcm_kubeconfig" "$port" kcm=system:kube-controller-manager

  # Only the controllers a cluster needs for deletes to finish: the garbage collector
  # (foreground deletion, owner references), namespace teardown, and the claim and volume
  # protection finalizers. The others would make ReplicaSets and Pods that no kubelet runs and
  # write statuses the tests write themselves. The API server has no client CA, so there is no
  # authentication configuration to look up.
  local kcm_port
  kcm_port=$(free_port)
  spawn "$root/kube-controller-manager.pid" "$root/kube-controller-manager.log" "$cache/kube-controller-manager" \
    --kubeconfig "$kcm_kubeconfig" --authentication-kubeconfig "$kcm_kubeconfig" --authorization-kubeconfig "$kcm_kubeconfig" \
    --controllers garbage-collector-controller,namespace-controller,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller \
    --authentication-skip-lookup \
    --bind-address 127.0.0.1 --secure-port "$kcm_port" --cert-dir "$root/kcm" \
    --leader-elect=false --profiling=false
  wait_ok kube-controller-manager 60 "$root/kube-controller-manager.pid" "$root/kube-controller-manager.log" \
    "https://127.0.0.1:$kcm_port/healthz" --insecure

  # The tests read OBP_TEST_KUBECONFIG only, so that a developer's own KUBECONFIG is never
  # what they write to; KUBECONFIG is for kubectl and the like after loading the file.
  printf 'KUBECONFIG=%s\nOBP_TEST_KUBECONFIG=%s\nOBP_TEST_KUBE_AUDIT_LOG=%s\n' "$kubeconfig" "$kubeconfig" "$audit_log" > "$dir/kubernetes.env"
  echo "kubernetes: kube-apiserver $k8s_version on https://127.0.0.1:$port (with deletion controllers), etcd $etcd_version on 127.0.0.1:$etcd_port (files in $root; up in $((SECONDS - begin)) s)"
}

# Stops the process of PIDFILE if it is still the one this script started (its command line
# names this DIR), TERM then KILL after 10 s.
stop_ours() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -qF "$root/"; then
    kill "$pid" 2> /dev/null || true
    local i
    for i in $(seq 1 100); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2> /dev/null || true
  fi
  rm -f "$pidfile"
}

stop() {
  stop_ours "$root/kube-controller-manager.pid"
  stop_ours "$root/kube-apiserver.pid"
  stop_ours "$root/etcd.pid"
}

servers_dispatch
