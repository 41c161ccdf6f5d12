#!/bin/sh
# Installs the Debian packages gemma-chat needs to build, run and test.
# Run as root (or through sudo). Everything comes from Debian's archive.
set -eu
PKGS="build-essential pkg-config libncurses-dev libreadline-dev libyaml-dev
      libvulkan-dev glslc mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
      sentencepiece python3-sentencepiece python3-numpy python3-venv tmux
      clang libclang-rt-14-dev valgrind groff-base"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $PKGS >/dev/null 2>&1 || {
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends $PKGS >/dev/null
}
echo "gemma-chat: build dependencies installed"
