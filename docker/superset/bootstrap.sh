#!/usr/bin/env bash
# Start-up of the compose service superset: migrate Superset's own metadata database, make
# sure the admin exists (password SUPERSET_ADMIN_PASSWORD), import the project's dashboards
# (bi/superset/bundle, mounted at /app/crmwh/bundle) with the warehouse login bi_reader's
# password filled in, then serve. Importing again overwrites the dashboards with the repo's.
set -euo pipefail

superset db upgrade
superset fab create-admin --username admin --firstname Superset --lastname Admin \
    --email admin@localhost --password "$SUPERSET_ADMIN_PASSWORD" || true
superset init

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r /app/crmwh/bundle "$work/crmwh_dashboards"
# the export masks the database password; the import takes the real one
sed -i "s|XXXXXXXXXX|${CRM_BI_READER_PASSWORD}|" "$work"/crmwh_dashboards/databases/*.yaml
(cd "$work" && python -m zipfile -c crmwh_dashboards.zip crmwh_dashboards)
superset import-dashboards --path "$work/crmwh_dashboards.zip" --username admin
rm -rf "$work"
trap - EXIT

exec /usr/bin/run-server.sh
