#!/usr/bin/env bash
# install.sh: builds Barge (unless build/barge is up to date) and installs it like a tool with
# `cmake --install`: PREFIX/bin/barge, the bash completion in
# PREFIX/share/bash-completion/completions/barge, the Kafka script `barge up` uses in
# PREFIX/share/barge/scripts, and README.md with docs/ in PREFIX/share/doc/barge.
#
#   scripts/install.sh                  # PREFIX: /usr/local as root, else ~/.local
#   scripts/install.sh --prefix DIR
#   scripts/install.sh --build-dir DIR  # default build
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
if [[ $(id -u) == 0 ]]; then PREFIX=/usr/local; else PREFIX=$HOME/.local; fi
while (($#)); do
    case $1 in
    --prefix) PREFIX=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc)" --target barge barge_completion >/dev/null
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
echo "install.sh: installed $PREFIX/bin/barge ($("$PREFIX/bin/barge" version))"
echo "install.sh: bash completion in $PREFIX/share/bash-completion/completions/barge"
case ":$PATH:" in
*":$PREFIX/bin:"*) ;;
*) echo "install.sh: $PREFIX/bin is not on your PATH; add it, e.g.: echo 'export PATH=\"$PREFIX/bin:\$PATH\"' >> ~/.bashrc" ;;
esac
