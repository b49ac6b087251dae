# Dockerfile: the one `barge` binary in a small runtime image, for docker-compose.yml.
# Stage 1 builds with the Debian -dev packages (the same ones scripts/setup.sh installs);
# stage 2 carries only the binary, the runtime libraries and /bin/sh for jobs.
#   docker build -t barge .            docker run --rm barge --help
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config librdkafka-dev libavro-dev libjansson-dev \
      libcurl4-openssl-dev libssl-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# the whole source tree (.dockerignore keeps build trees, stacks and .git out of the context)
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build -j"$(nproc)" --target barge \
 && strip /build/barge \
 && /build/barge version

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libavro23 libjansson4 libcurl4 libssl3 libmicrohttpd12 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/barge --create-home barge \
 && mkdir -p /var/lib/barge/logs && chown barge:barge /var/lib/barge/logs
COPY --from=build /build/barge /usr/local/bin/barge
# BARGE_HOME holds job logs (agents write <jobId>/<attempt>.log under $BARGE_HOME/logs)
ENV BARGE_HOME=/var/lib/barge
USER barge
WORKDIR /var/lib/barge
ENTRYPOINT ["/usr/local/bin/barge"]
CMD ["--help"]
