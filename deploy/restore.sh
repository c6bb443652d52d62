#!/usr/bin/env bash
# Restore a backup made by deploy/backup.sh, replacing the database's contents in one transaction
# (an error leaves the database as it was). The app is stopped meanwhile and migrates the
# restored schema to its own version when it starts again.
#   deploy/restore.sh deploy/backups/outcomes-2026-11-28-0215.dump
set -euo pipefail
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: deploy/restore.sh BACKUP.dump   (a file written by deploy/backup.sh)" >&2
  exit 2
fi
backup="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
cd "$(dirname "$0")"
docker compose stop app
# The same flags as tests/test_deploy.py's round trip.
docker compose exec -T db pg_restore --username outcomes --dbname outcomes --clean --if-exists \
  --no-owner --single-transaction --exit-on-error < "$backup"
docker compose start app
echo "restored $backup"
