#!/usr/bin/env bash
# Builds the real test peers (kube-apiserver, kube-controller-manager, kubectl,
# etcd, CoreDNS; for the node e2e kube-scheduler, kubelet, kube-proxy; helm for
# the chart) from the Go module proxy, cached by version under
# ~/.cache/clusterdns-peers. A cached binary is reused; only missing ones build.
#
# Prints the bin directory of each peer set on stdout's last lines as
#   CLUSTERDNS_K8S_BIN=...   CLUSTERDNS_COREDNS_BIN=...   CLUSTERDNS_HELM_BIN=...
# so callers can `eval` them. Build logs go to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/versions.env"

cache="${CLUSTERDNS_PEERS_CACHE:-$HOME/.cache/clusterdns-peers}"
k8s_bin="$cache/k8s-$K8S_VERSION/bin"
coredns_bin="$cache/coredns-$COREDNS_VERSION/bin"
helm_bin="$cache/helm-$HELM_VERSION/bin"
mkdir -p "$k8s_bin" "$coredns_bin" "$helm_bin"
export CGO_ENABLED=0 GOFLAGS=-modcacherw

log() { echo "peers: $*" >&2; }

build_coredns() {
  [ -x "$coredns_bin/coredns" ] && { log "coredns $COREDNS_VERSION cached"; return; }
  log "building coredns $COREDNS_VERSION"
  GOBIN="$coredns_bin.tmp" go install -trimpath -tags grpcnotrace \
    -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=v$COREDNS_VERSION" \
    "github.com/coredns/coredns@v$COREDNS_VERSION" >&2
  mv "$coredns_bin.tmp/coredns" "$coredns_bin/coredns"
  rmdir "$coredns_bin.tmp"
}

build_helm() {
  [ -x "$helm_bin/helm" ] && { log "helm $HELM_VERSION cached"; return; }
  log "building helm $HELM_VERSION"
  GOBIN="$helm_bin.tmp" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION" >&2
  mv "$helm_bin.tmp/helm" "$helm_bin/helm"
  rmdir "$helm_bin.tmp"
}

build_k8s_tool() {
  local name="$1" package="$2" ldflags="$3"
  [ -x "$k8s_bin/$name" ] && { log "$name $K8S_VERSION cached"; return; }
  log "building $name $K8S_VERSION"
  (cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$k8s_bin/$name.tmp" "$package" >&2)
  mv "$k8s_bin/$name.tmp" "$k8s_bin/$name"
}

k8s_minor=$(echo "$K8S_VERSION" | cut -d. -f2)
k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
  -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor"

build_k8s_tool etcd go.etcd.io/etcd/server/v3 "-s -w"
build_k8s_tool kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build_k8s_tool kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build_k8s_tool kubectl k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
build_k8s_tool kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"
build_k8s_tool kubelet k8s.io/kubernetes/cmd/kubelet "$k8s_ldflags"
build_k8s_tool kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$k8s_ldflags"
build_coredns
build_helm

echo "CLUSTERDNS_K8S_BIN=$k8s_bin"
echo "CLUSTERDNS_COREDNS_BIN=$coredns_bin"
echo "CLUSTERDNS_HELM_BIN=$helm_bin"
