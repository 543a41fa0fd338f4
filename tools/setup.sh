#!/usr/bin/env bash
# Installs the Debian packages ELARA's build, tests and tools need, and
# nothing else. Idempotent: when everything is present it only checks
# (no apt-get run) and returns in well under a second.
#
# Usage: tools/setup.sh            (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  bazel-bootstrap       # Bazel 4.2.3
  bazel-rules-java      # @rules_java offline (see .bazelrc)
  bazel-platforms       # @platforms offline (see .bazelrc)
  g++
  libabsl-dev           # Abseil 20220623
  libgtest-dev
  libgmock-dev
  libbenchmark-dev      # Google Benchmark 1.7.1
  libcli11-dev          # CLI11 2.1.2
  android-libboringssl-dev  # BoringSSL: Ed25519, X25519, HKDF, ChaCha20-Poly1305
  libtomlplusplus-dev   # toml++ 3.3: --config files
  nlohmann-json3-dev    # JSON-lines control and JSON reports
  nftables              # loss/partition rules in the multi-process tests
  iproute2              # network namespaces for those tests
  python3               # drivers of the multi-process node tests
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup.sh: apt-get not found; this script needs Debian 12 (bookworm)." >&2
  echo "setup.sh: missing packages: ${missing[*]}" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "setup.sh: must run as root (or with sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "setup.sh: installing ${missing[*]}" >&2
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >&2
