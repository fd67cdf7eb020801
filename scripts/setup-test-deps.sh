#!/usr/bin/env bash
# Installs the real peers the whole-proxy tests use (Debian packages), if missing.
set -euo pipefail
need=()
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v ss >/dev/null || need+=(iproute2)
command -v nghttp >/dev/null || need+=(nghttp2-client)
command -v wrk >/dev/null || need+=(wrk)
command -v nft >/dev/null || need+=(nftables)
command -v iptables >/dev/null || need+=(iptables)
command -v setpriv >/dev/null || need+=(util-linux)
command -v nghttpd >/dev/null || need+=(nghttp2-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v promtool >/dev/null && [ -x /usr/bin/prometheus ] || need+=(prometheus)
/usr/bin/python3 -c 'import h2' 2>/dev/null || need+=(python3-h2)
/usr/bin/python3 -c 'import grpc' 2>/dev/null || need+=(python3-grpcio)
/usr/bin/python3 -c 'import grpc_tools' 2>/dev/null || need+=(python3-grpc-tools)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test peers: ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >&2
  $SUDO apt-get install -y -q "${need[@]}" >&2
fi
