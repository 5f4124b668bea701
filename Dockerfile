# syntax=docker/dockerfile:1.7
# Hermes: one multi-stage file, one target per service.
#
#   docker build --target gateway  -t hermes-gateway  .
#   docker build --target planner  -t hermes-planner  .
#   docker build --target guard    -t hermes-guard    .
#   docker build --target executor -t hermes-executor .                        # Ankra CLI emulator
#   docker build --target executor --build-arg ANKRA_CLI=release -t hermes-executor .   # the real ankra CLI
#
# Every image runs as user 1000 and works with a read-only root filesystem: only /tmp and
# /var/lib/hermes (the state directory) must be writable, and both are mounted by compose and the chart.
#
# Supply chain: nothing is fetched unpinned. The base image is pinned by digest (tools/image/base-image.lock,
# tools/image/pin-base-image.sh), every Python package by version and SHA-256 (tools/image/requirements.lock,
# `pip install --require-hashes`, wheels only), and the real ankra CLI by version and SHA-256
# (tools/image/ankra-cli.lock): a build with anything else fails.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm@sha256:a116514e19457bcb7af7efe9c3dd0b9b71e85b317694e7882a1c52aa15a78134
# `emulator` (default: the project's Ankra CLI emulator) or `release` (the real ankra CLI).
ARG ANKRA_CLI=emulator

# --- build: install the project and its dependencies into a virtualenv ----------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/hermes
WORKDIR /src
# Dependencies and the build backend exactly as locked (pip-compile --generate-hashes: every version and
# every file's SHA-256; pip refuses anything else, and builds nothing from source).
COPY tools/image/requirements.lock /tmp/requirements.lock
RUN /opt/hermes/bin/pip install --require-hashes --only-binary :all: --no-deps -r /tmp/requirements.lock
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
COPY cli ./cli
COPY tools ./tools
# the project itself, with the locked setuptools and nothing from an index
RUN /opt/hermes/bin/pip install --no-deps --no-build-isolation --no-index . \
 && /opt/hermes/bin/pip check \
 && /opt/hermes/bin/python -m compileall -q /opt/hermes/lib

# --- runtime: what every service image shares ------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 1000 hermes \
 && useradd --uid 1000 --gid 1000 --home-dir /home/hermes --create-home --shell /usr/sbin/nologin hermes \
 && mkdir -p /var/lib/hermes /tmp \
 && chown 1000:1000 /var/lib/hermes && chmod 1777 /tmp
COPY --from=build /opt/hermes /opt/hermes
ENV PATH=/opt/hermes/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/hermes \
    TMPDIR=/tmp \
    HERMES_STATE_DIR=/var/lib/hermes \
    HERMES_LOG_FORMAT=json
VOLUME ["/var/lib/hermes"]
WORKDIR /var/lib/hermes
USER 1000:1000

FROM runtime AS gateway
ENV HERMES_HTTP_HOST=0.0.0.0 HERMES_HTTP_PORT=8789
EXPOSE 8789
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os,sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HERMES_HTTP_PORT', '8789'), timeout=2).status == 200 else 1)"]
CMD ["python", "-m", "hermes_gateway"]

FROM runtime AS planner
CMD ["python", "-m", "hermes_planner"]

FROM runtime AS guard
CMD ["python", "-m", "hermes_guard"]

# --- executor: with the Ankra CLI emulator, or the real ankra release -----------------------------
FROM runtime AS executor-emulator
# The executor runs `ankra` with a scrubbed environment, so the emulator's state directory is baked
# into a wrapper script; the state lives under the writable /var/lib/hermes.
USER 0:0
# bubblewrap: the executor runs `ankra` inside it whenever it can create namespaces here.
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
RUN python -m ankra_emulator wrapper --state /var/lib/hermes/ankra-emulator --bin /opt/ankra/bin
USER 1000:1000
ENV HERMES_ANKRA_BIN=/opt/ankra/bin/ankra

FROM runtime AS executor-release
# The release binary of tools/image/ankra-cli.lock, for this platform, checked against its SHA-256 there:
# no install script, no `latest`; a checksum that does not match (or is not filled in) stops the build.
ARG TARGETARCH
USER 0:0
COPY tools/image/ankra-cli.lock /tmp/ankra-cli.lock
RUN set -eu; \
    lock() { sed -n "s/^$1=//p" /tmp/ankra-cli.lock; }; \
    arch="${TARGETARCH:-$(dpkg --print-architecture)}"; \
    version="$(lock version)"; url="$(lock "url_${arch}")"; sum="$(lock "sha256_${arch}")"; \
    if ! printf '%s' "$sum" | grep -Eqx '[0-9a-f]{64}'; then \
      echo "tools/image/ankra-cli.lock has no SHA-256 for ankra-cli ${version} linux/${arch} ('${sum}'):" \
           "run tools/image/pin-ankra-cli.sh ${version} where github.com is reachable, and commit the lock" >&2; \
      exit 1; \
    fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl bubblewrap; \
    curl -fsSL --proto '=https' --tlsv1.2 "$url" -o /tmp/ankra; \
    echo "${sum}  /tmp/ankra" | sha256sum -c -; \
    install -m 0755 /tmp/ankra /usr/local/bin/ankra; \
    rm -f /tmp/ankra /tmp/ankra-cli.lock; \
    /usr/local/bin/ankra --version; \
    apt-get purge -y curl; apt-get autoremove -y; rm -rf /var/lib/apt/lists/*
USER 1000:1000
ENV HERMES_ANKRA_BIN=/usr/local/bin/ankra

FROM executor-${ANKRA_CLI} AS executor
CMD ["python", "-m", "hermes_executor"]
