#!/usr/bin/env bash
# Installs what pip cannot: a JDK 17+ and Maven for the Kafka broker. Debian/Ubuntu only;
# elsewhere it only checks and tells what is missing. Safe to run again.
# --chromium (make test): also Debian's chromium, for the browser tests and Lighthouse.
set -euo pipefail

with_chromium=0
[[ "${1:-}" == "--chromium" ]] && with_chromium=1

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
