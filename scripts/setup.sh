#!/usr/bin/env bash
# setup.sh: installs what Barge needs to build and test, and nothing twice. Safe to re-run.
#   Debian packages: compiler, CMake, pkg-config, librdkafka, Avro C, jansson, libcurl,
#   OpenSSL, libmicrohttpd (the HTTP server of `barge api`), clang and its runtime libraries
#   (libFuzzer and the sanitizers, for scripts/fuzz.sh), awscli (the aws CLI v2 at /usr/bin/aws,
#   on Debian's own Python: test_api_awscli.py runs it beside PyPI's v1), Java 17 and Maven (for
#   the Kafka broker), Python 3 with pip, docker-compose, Chromium and its WebDriver (the
#   dashboard's browser test, tests/e2e/test_dashboard_browser.py)
#   (only to validate docker-compose.yml); Python packages: scripts/requirements.txt;
#   the Apache Kafka jars (scripts/kafka.sh fetch, cached under ~/.cache/barge); the Go modules of
#   tests/e2e/go_sdk (the Go SDK test) into Go's module cache, when a `go` toolchain is there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# what the product needs to build (the Dockerfile's build stage installs the same -dev packages)
build_pkgs=(build-essential cmake pkg-config librdkafka-dev libavro-dev libjansson-dev
      libcurl4-openssl-dev libssl-dev libmicrohttpd-dev)
# what the tests need besides: the Kafka broker, the fuzz build, the aws CLI v2, Python, and a
# container engine for the container runtime's tests (podman with runc: crun refuses cgroup v1
# hybrid hosts; catatonit is its init for initProcessEnabled; busybox-static is the root file
# system of the tests' local image, stress-ng the workshop job's program), and headless Chromium
# with chromedriver for the dashboard's browser test (driven by Selenium, scripts/requirements.txt)
test_pkgs=(clang libclang-rt-14-dev openjdk-17-jre-headless maven python3 python3-pip docker-compose awscli
      podman runc catatonit busybox-static stress-ng chromium chromium-driver)
missing=()
for p in "${build_pkgs[@]}" "${test_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

py=${PYTHON:-python3}
need_py=0
while read -r mod; do
  mod=${mod%%#*}
  [ -n "${mod// /}" ] || continue
  import=$(sed 's/\[.*//; s/[<>=].*//; s/-/_/g; s/ //g' <<<"$mod")  # confluent-kafka[avro] -> confluent_kafka
  "$py" -c "import $import" 2>/dev/null || need_py=1
done < "$here/requirements.txt"
if ((need_py)); then
  echo "setup: installing Python packages from scripts/requirements.txt"
  "$py" -m pip install -q -r "$here/requirements.txt" 2>/dev/null ||
    "$py" -m pip install -q --break-system-packages -r "$here/requirements.txt"
else
  echo "setup: Python packages present"
fi

"$here/kafka.sh" fetch

# The Go SDK test (tests/e2e/test_api_go.py) builds tests/e2e/go_sdk offline (GOPROXY=off), so its
# modules (aws-sdk-go-v2/service/batch and what it needs, ~13 MB, pinned by go.mod/go.sum) are
# fetched here, from the Go module proxy. `go mod download` does nothing when they are cached.
go_bin=$(command -v go || true)
if [ -z "$go_bin" ] && [ -x /usr/local/go/bin/go ]; then go_bin=/usr/local/go/bin/go; fi
if [ -n "$go_bin" ]; then
  (cd "$here/../tests/e2e/go_sdk" && GOFLAGS=-mod=mod GOTOOLCHAIN=local "$go_bin" mod download) &&
    echo "setup: Go modules of tests/e2e/go_sdk present" ||
    echo "setup: go mod download for tests/e2e/go_sdk failed: tests/e2e/test_api_go.py will fail"
else
  echo "setup: no go toolchain: tests/e2e/test_api_go.py will be skipped"
fi

# Apicurio Registry (a Confluent-compatible schema registry) for the registry tests; ~160 MB,
# fetched once into the same cache. It needs Java 21+ (the machine's Temurin JDK).
"$here/registry.sh" fetch
