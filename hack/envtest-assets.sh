#!/usr/bin/env bash
# envtest-assets.sh builds the kube-apiserver and etcd binaries that envtest needs, from Go modules only
# (no release downloads), caches them per version in the user's cache directory, links them under
# bin/k8s/<version>/ and prints that directory on stdout. Progress goes to stderr.
#
# A preset KUBEBUILDER_ASSETS that already holds both binaries wins and is printed unchanged.
# A second run with a warm cache finishes in well under a second.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${XDG_CACHE_HOME:-${HOME}/.cache}/crmsync/envtest/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"
LINK_DIR="${ROOT}/bin/k8s/${K8S_VERSION}"

log() { printf 'envtest-assets: %s\n' "$*" >&2; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "${KUBEBUILDER_ASSETS}/kube-apiserver" && -x "${KUBEBUILDER_ASSETS}/etcd" ]]; then
  echo "${KUBEBUILDER_ASSETS}"
  exit 0
fi

link_assets() {
  mkdir -p "${LINK_DIR}"
  ln -sfn "${CACHE_DIR}/kube-apiserver" "${LINK_DIR}/kube-apiserver"
  ln -sfn "${CACHE_DIR}/etcd" "${LINK_DIR}/etcd"
  echo "${LINK_DIR}"
}

if [[ -x "${CACHE_DIR}/kube-apiserver" && -x "${CACHE_DIR}/etcd" ]]; then
  link_assets
  exit 0
fi

command -v go >/dev/null || { log "go is not on PATH: install Go 1.26 first"; exit 1; }
mkdir -p "${CACHE_DIR}"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

build_etcd() {
  [[ -x "${CACHE_DIR}/etcd" ]] && return 0
  log "building etcd v${ETCD_VERSION} from go.etcd.io/etcd/server/v3 (about 1 minute on 2 cores)"
  local dir="${WORK}/etcd"
  mkdir -p "${dir}"
  cat >"${dir}/go.mod" <<MOD
module crmsync.local/envtest/etcd

go 1.26

require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
MOD
  (cd "${dir}" && GOFLAGS=-mod=mod go build -trimpath -o "${CACHE_DIR}/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "${CACHE_DIR}/etcd.tmp" "${CACHE_DIR}/etcd"
  log "etcd ready"
}

build_kube_apiserver() {
  [[ -x "${CACHE_DIR}/kube-apiserver" ]] && return 0
  log "building kube-apiserver v${K8S_VERSION} from k8s.io/kubernetes (about 6 minutes on 2 cores)"
  local dir="${WORK}/kube"
  mkdir -p "${dir}"
  local gomod minor
  minor="$(echo "${K8S_VERSION}" | cut -d. -f2)"
  gomod="$(cd "${dir}" && GOFLAGS= go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [[ -f "${gomod}" ]] || { log "could not download k8s.io/kubernetes@v${K8S_VERSION} from the Go module proxy"; exit 1; }
  {
    echo "module crmsync.local/envtest/kube"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    echo
    # Every staging module (the "=> ./staging/..." lines) is replaced by the published module of the same
    # release, v0.<minor>.<patch>.
    grep -E '=>[[:space:]]*\./staging/' "${gomod}" | awk -v v="v0.${K8S_VERSION#*.}" '{print "replace " $1 " => " $1 " " v}'
  } >"${dir}/go.mod"
  (cd "${dir}" && GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}" \
    -o "${CACHE_DIR}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "${CACHE_DIR}/kube-apiserver.tmp" "${CACHE_DIR}/kube-apiserver"
  log "kube-apiserver ready"
}

started=$(date +%s)
build_etcd
build_kube_apiserver
log "envtest assets built in $(( $(date +%s) - started ))s, cached in ${CACHE_DIR}"
link_assets
