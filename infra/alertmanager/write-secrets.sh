#!/bin/sh
# Writes the webhook URLs from the environment (alertmanager.env) to the files that
# alertmanager.yml reads with api_url_file, then runs its arguments (Alertmanager):
#   sh write-secrets.sh alertmanager --config.file=/etc/alertmanager/alertmanager.yml ...
# The directory (ALERTMANAGER_SECRETS_DIR, default /etc/alertmanager/secrets) must be
# writable: a tmpfs in a container.
set -eu
: "${SLACK_WEBHOOK_URL_CRITICAL:?is not set: copy infra/alertmanager/alertmanager.env.example to alertmanager.env and fill it in}"
dir=${ALERTMANAGER_SECRETS_DIR:-/etc/alertmanager/secrets}
umask 077
mkdir -p "$dir"
printf '%s' "$SLACK_WEBHOOK_URL_CRITICAL" >"$dir/slack-critical.url"
printf '%s' "${SLACK_WEBHOOK_URL_WARNING:-$SLACK_WEBHOOK_URL_CRITICAL}" >"$dir/slack-warning.url"
exec "$@"
