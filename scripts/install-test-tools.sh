#!/usr/bin/env bash
# Installs the real peers the tests drive: openssl, curl, NSS tools (pk12util/certutil), nginx, chromium, haproxy,
# testssl.sh, systemd-analyze and yamllint (deploy/ checks), and gcc +
# libssl-dev for the benchmark's load generator.
set -euo pipefail
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v pk12util >/dev/null || need+=(libnss3-tools)
command -v nginx >/dev/null || need+=(nginx-light)
# nginx `stream` (the benchmark's tcp scenario): Debian ships it as a dynamic module
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v chromium >/dev/null || need+=(chromium)
command -v taskset >/dev/null || need+=(util-linux)
# ss: the soak and leak tests count sockets in CLOSE-WAIT
command -v ss >/dev/null || need+=(iproute2)
# a real load balancer (fleet tests) and the TLS scanner (hardening: testssl.sh's command is `testssl`)
command -v haproxy >/dev/null || need+=(haproxy)
command -v testssl >/dev/null || need+=(testssl.sh)
# deploy/: `systemd-analyze verify` checks the unit, yamllint the Kubernetes manifests
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v yamllint >/dev/null || need+=(yamllint)
# the benchmark's C load generator (its smoke test runs in npm test)
command -v gcc >/dev/null || need+=(gcc)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}"
fi
