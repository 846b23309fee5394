#!/usr/bin/env bash
# Installs what nodus needs to build and test, from Debian's apt and nothing else.
# Idempotent: when every package is already installed it changes nothing and needs no network
# (NODUS_DEPS_FORCE=1 runs apt-get update + install anyway).
set -euo pipefail

packages=(
  g++ clang                     # GCC is the reference compiler; clang++ the second-compiler check
  cmake ninja-build meson pkg-config
  libasio-dev                   # standalone Asio (headers only)
  libboost1.81-dev              # Boost.Hana and friends (headers)
  libboost-test1.81-dev         # Boost.Test (shared library) for the tests
  libssl-dev                    # OpenSSL: libcrypto (cookie digests), libssl (TLS distribution)
  zlib1g-dev                    # zlib: compressed terms of the Erlang external term format
  erlang-base                   # erl + epmd: interop tests against real Erlang nodes (else skipped)
  erlang-ssl                    # erl -proto_dist inet_tls: the TLS distribution interop test
  openssl                       # the openssl tool: the TLS tests make their certificates with it
  elixir                        # the walkthrough's Elixir side beside simple_cluster (else skipped)
  iproute2                      # ip: network namespaces for the multi-host tests (gossip, DNS)
  dnsmasq-base                  # a real DNS server for the DNS polling tests
  doxygen                       # the API reference from the headers' comments (scripts/docs.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
    missing+=("$p")
done
if ((${#missing[@]} == 0)) && [[ ${NODUS_DEPS_FORCE:-0} != 1 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi
echo "install-deps: missing: ${missing[*]:-none}"

as_root=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null; then
    as_root=(sudo)
  else
    echo "install-deps: run as root or install sudo" >&2
    exit 1
  fi
fi
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
"${apt[@]}" update
"${apt[@]}" install -y --no-install-recommends "${packages[@]}"
echo "install-deps: done"
