#!/usr/bin/env bash
# Back up the clinic's database: deploy/backups/outcomes-YYYY-MM-DD-HHMM.dump (pg_dump's custom
# format, compressed; restore with deploy/restore.sh). Run from anywhere, e.g. nightly from cron:
#   15 2 * * *  /srv/ketamine-outcomes/deploy/backup.sh
# Copy the backups off this machine too; they hold the clinic's (de-identified) health data.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p backups
file="backups/outcomes-$(date +%Y-%m-%d-%H%M).dump"
# The same flags as tests/test_deploy.py's round trip.
docker compose exec -T db pg_dump --username outcomes --dbname outcomes --format custom --no-owner \
  > "$file.partial"
mv "$file.partial" "$file"   # a backup interrupted half-way never looks complete
echo "$file"
