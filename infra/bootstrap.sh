#!/usr/bin/env bash
# Installs what pip cannot: a JDK 17+ and Maven for the Kafka broker. Debian/Ubuntu only;
# elsewhere it only checks and tells what is missing. Safe to run again.
# --chromium (make test): also Debian's chromium, for the browser tests and Lighthouse.
# --ops (make test): also Debian's prometheus and prometheus-alertmanager, for promtool and
# amtool (the infra/prometheus and infra/alertmanager checks); their daemons stay stopped.
# --node (make test, make graphiql-assets): also Debian's nodejs and npm, for the
# graphql-http conformance audit (tests/graphql_http) and re-fetching GraphiQL's files.
# --containers (make test, make image): also Debian's podman, runc and debootstrap, to build
# the image on a local Debian base and run it (infra/container; runc because crun refuses
# hybrid cgroups; nothing else: the containers use the host's network and root's storage).
set -euo pipefail

# optional_tools WHAT "COMMANDS" PACKAGES...: install PACKAGES with apt-get unless every
# command in COMMANDS is found. Never fatal: the tests that need them fail saying how to
# install them (WHAT names those tests).
optional_tools() {
  local what=$1 commands=$2 missing=0 cmd
  shift 2
  for cmd in $commands; do command -v "$cmd" >/dev/null || missing=1; done
  ((missing)) || return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "bootstrap: $commands missing (not root, or no apt-get): install Debian's $*; $what fail without them" >&2
    return 0
  fi
  echo "bootstrap: installing $* with apt-get ($what)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"; }; then
    echo "bootstrap: could not install $*; $what will fail" >&2
    return 1
  fi
}

case "${1:-}" in
  --chromium)
    optional_tools "the browser tests (JOBSTREAM_SKIP_BROWSER_TESTS=1 skips them)" \
      chromium chromium fonts-dejavu-core || true
    exit 0 ;;
  --node)
    optional_tools "the graphql-http audit test" "node npm" nodejs npm || true
    exit 0 ;;
  --containers)
    optional_tools "the container image tests (tests/integration/test_container_image.py)" \
      "podman runc debootstrap" podman runc debootstrap || true
    exit 0 ;;
  --ops)
    # Only the tools are wanted: a policy-rc.d keeps the packages from starting their
    # daemons (Alertmanager's default port, 9093, is the local Kafka controller's).
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]] && [[ $(id -u) -eq 0 ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
      trap 'rm -f "$policy"' EXIT
    fi
    if optional_tools "the monitoring tests" "promtool amtool" \
      prometheus prometheus-alertmanager && [[ -d /run/systemd/system ]]; then
      systemctl disable --quiet prometheus prometheus-alertmanager || true
    fi
    exit 0 ;;
esac

need=()
java_ok() {
  command -v java >/dev/null || return 1
  local v
  v=$(java -version 2>&1 | awk -F'"' '/version/ {print $2}' | cut -d. -f1)
  [[ "$v" =~ ^[0-9]+$ ]] && (( v >= 17 ))
}
java_ok || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v "${PYTHON:-python3}" >/dev/null || need+=(python3 python3-venv)

if ((${#need[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "bootstrap: installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
else
  echo "bootstrap: missing ${need[*]}: install them (Java 17+ and Maven run the Kafka broker)," >&2
  echo "           or set KAFKA_HOME / use infra/docker-compose.yml" >&2
  exit 1
fi
