#!/usr/bin/env bash
# Regenerates the wrapper module that builds kube-apiserver, kube-controller-manager,
# kubectl, kube-scheduler, kubelet, kube-proxy and etcd from the Go module
# proxy. Run it when bumping Kubernetes, then commit
# go.mod and go.sum.
#
# Why a wrapper: k8s.io/kubernetes requires every staging module at v0.0.0 and
# points them at ./staging, so `go install` cannot build it. A main module that
# replaces each staging module with its published v0.X.Y can.
#
# usage: tools/peers/k8s/pin.sh 1.36.3
set -euo pipefail
version="$1"
minor_patch="${version#1.}"
cd "$(dirname "$0")"
rm -f go.mod go.sum
go mod init clusterdns.invalid/k8speers
kubernetes_gomod=$(go mod download -json "k8s.io/kubernetes@v$version" \
  | sed -n 's/.*"GoMod": "\([^"]*\)".*/\1/p')
for module in $(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$kubernetes_gomod"); do
  go mod edit -replace="$module=$module@v0.$minor_patch"
done
godebug=$(awk '$1 == "godebug" {print $2}' "$kubernetes_gomod")
if [ -n "$godebug" ]; then go mod edit -godebug="$godebug"; fi
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "$kubernetes_gomod")
go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$version" \
  "k8s.io/kubernetes/cmd/kube-controller-manager@v$version" \
  "k8s.io/kubernetes/cmd/kubectl@v$version" \
  "k8s.io/kubernetes/cmd/kubelet@v$version" \
  "k8s.io/kubernetes/cmd/kube-proxy@v$version" \
  "k8s.io/kubernetes/cmd/kube-scheduler@v$version" \
  "go.etcd.io/etcd/server/v3@$etcd_version"
go mod tidy
