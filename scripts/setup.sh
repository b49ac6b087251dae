#!/usr/bin/env bash
# setup.sh: installs what Barge needs to build and test, and nothing twice. Safe to re-run.
#   Debian packages: compiler, CMake, pkg-config, librdkafka, Avro C, jansson, libcurl,
#   OpenSSL, libmicrohttpd (the HTTP server of `barge api`), clang and its runtime libraries
#   (libFuzzer and the sanitizers, for scripts/fuzz.sh), Java 17 and Maven (for the Kafka broker), Python 3 with pip, docker-compose
#   (only to validate docker-compose.yml); Python packages: scripts/requirements.txt;
#   the Apache Kafka jars (scripts/kafka.sh fetch, cached under ~/.cache/barge).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

pkgs=(build-essential cmake pkg-config librdkafka-dev libavro-dev libjansson-dev
      libcurl4-openssl-dev libssl-dev libmicrohttpd-dev clang libclang-rt-14-dev openjdk-17-jre-headless maven python3 python3-pip
      docker-compose)
missing=()
for p in "${pkgs[@]}"; do
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

# Apicurio Registry (a Confluent-compatible schema registry) for the registry tests; ~160 MB,
# fetched once into the same cache. It needs Java 21+ (the machine's Temurin JDK).
"$here/registry.sh" fetch
