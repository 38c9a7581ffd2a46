#!/usr/bin/env bash
# Installs the real peers the tests and the sandbox drive, when missing:
#   etcd (Debian etcd-server), prometheus (Debian prometheus), bwrap (Debian bubblewrap),
#   ip (Debian iproute2: the real-control-plane clusters' network namespaces).
# kubectl must already be on PATH (it is on every machine of this project).
# Sourced by tests/run and tests/sandbox; safe to run again (installs nothing when all are present).
promfix_deps() {
  local missing=() pkg bin
  for pair in etcd:etcd-server prometheus:prometheus bwrap:bubblewrap ip:iproute2; do
    bin=${pair%%:*}; pkg=${pair#*:}
    command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages) ..." >&2
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
      if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
        echo "error: missing ${missing[*]}; install them as root: apt-get install -y ${missing[*]}" >&2
        return 1
      fi
    fi
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || {
      echo "error: could not install ${missing[*]}; install them by hand: apt-get install -y ${missing[*]}" >&2
      return 1
    }
  fi
  if ! command -v kubectl >/dev/null 2>&1; then
    echo "error: kubectl is not on PATH; the tests drive real kubectl (1.27 to 1.33)" >&2
    return 1
  fi
  # Debian's prometheus package starts no service here (no systemd), and nothing below relies on one.
  # The real control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, the
  # Prometheus Operator, Prometheus 3), built from their Go modules into a cache outside the repo.
  PROMFIX_K8S_BIN=$(tests/k8s/build) || return 1
  export PROMFIX_K8S_BIN
}
promfix_deps
