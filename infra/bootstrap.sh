#!/usr/bin/env bash
# Installs what pip cannot: a JDK 17+ and Maven for the Kafka broker. Debian/Ubuntu only;
# elsewhere it only checks and tells what is missing. Safe to run again.
# --chromium (make test): also Debian's chromium, for the browser tests and Lighthouse.
# --ops (make test): also Debian's prometheus and prometheus-alertmanager, for promtool and
# amtool (the infra/prometheus and infra/alertmanager checks); their daemons stay stopped.
# --node (make test, make graphiql-assets): also Debian's nodejs and npm, for the
# graphql-http conformance audit (tests/graphql_http) and re-fetching GraphiQL's files.
set -euo pipefail

if [[ "${1:-}" == "--node" ]]; then
  command -v node >/dev/null && command -v npm >/dev/null && exit 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "bootstrap: node/npm are missing (not root, or no apt-get): install Debian's nodejs and npm; the graphql-http audit test fails without them" >&2
    exit 0
  fi
  echo "bootstrap: installing nodejs and npm with apt-get (the graphql-http audit)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Not fatal here: the audit test then fails, saying how to install them.
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm; }; then
    echo "bootstrap: could not install nodejs/npm; the graphql-http audit test will fail" >&2
  fi
  exit 0
fi

with_chromium=0
[[ "${1:-}" == "--chromium" ]] && with_chromium=1

if [[ "${1:-}" == "--ops" ]]; then
  command -v promtool >/dev/null && command -v amtool >/dev/null && exit 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "bootstrap: promtool/amtool are missing (not root, or no apt-get): install Debian's prometheus and prometheus-alertmanager; the monitoring tests fail without them" >&2
    exit 0
  fi
  echo "bootstrap: installing prometheus and prometheus-alertmanager with apt-get (promtool, amtool)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Only the tools are wanted: a policy-rc.d keeps the packages from starting their daemons
  # (Alertmanager's default port, 9093, is the local Kafka controller's).
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  # Not fatal here: the monitoring tests then fail, saying how to install them.
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
    prometheus prometheus-alertmanager; }; then
    echo "bootstrap: could not install prometheus/prometheus-alertmanager; the monitoring tests will fail" >&2
  elif [[ -d /run/systemd/system ]]; then
    systemctl disable --quiet prometheus prometheus-alertmanager || true
  fi
  exit 0
fi

need=()
if ((with_chromium)); then
  if ! command -v chromium >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      echo "bootstrap: installing chromium with apt-get (browser tests)" >&2
      export DEBIAN_FRONTEND=noninteractive
      # Not fatal here: the browser tests then fail, saying how to install it.
      if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core; }; then
        echo "bootstrap: could not install chromium; the browser tests will fail (JOBSTREAM_SKIP_BROWSER_TESTS=1 skips them)" >&2
      fi
    else
      echo "bootstrap: chromium is missing (not root, or no apt-get): install it, or JOBSTREAM_SKIP_BROWSER_TESTS=1 skips the browser tests" >&2
    fi
  fi
  exit 0
fi
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
