#!/usr/bin/env bash
# bench_containers.sh: builds the container tests' local image (tests/e2e/container_image.py,
# from busybox-static with `podman import`; cached) and runs build/bench/bench_containers: the
# per-job start overhead of the podman runtime beside the process runtime (docs/containers.md).
#   bench/bench_containers.sh [--jobs 200] [--runtime all|process|podman] [--concurrency 1]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BARGE_BUILD_DIR:-$here/build}
python3 -c "import sys; sys.path.insert(0, '$here/tests/e2e'); import container_image; print('image', container_image.ensure_image())"
exec "$build/bench/bench_containers" "$@"
