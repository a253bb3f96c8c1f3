#!/usr/bin/env bash
# Installs the Debian packages vqtok builds and tests with (the Dockerfile lists the same ones).
set -euo pipefail
packages=(libopenblas-dev libpng-dev libjpeg-dev libnghttp2-dev pkg-config
          curl nghttp2-client nghttp2-server python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
