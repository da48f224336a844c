#!/usr/bin/env bash
# Builds orgbackup, creates the demo database (five orgs of very different sizes, media files),
# backs up the largest org twice (plain and encrypted), inspects and verifies the files, then
# serves the web UI and the API (with workers) on 127.0.0.1:8080, printing a sign-in and a token.
# DEMO_ROWS sets the size of the largest org (default 200000 analytics rows).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
ensure_postgres
cargo build --release --locked
bin=target/release/orgbackup
export ORGBACKUP__ENCRYPTION__MASTER_KEY="${ORGBACKUP__ENCRYPTION__MASTER_KEY:-$(cat var/master.key 2>/dev/null || { mkdir -p var; $bin keygen | tee var/master.key; })}"
$bin demo --reset --rows "${DEMO_ROWS:-200000}"
$bin discover
$bin backup create --org "Acme Global"
$bin backup create --org "Acme Global" --encrypt --name "Encrypted demo backup"
$bin backup list --org "Acme Global"
latest=$(ls -t var/backups/*/*.tar.zst | head -n1)
$bin inspect "$latest"
$bin verify "$latest"
for file in var/backups/*/*.enc; do $bin verify "$file"; done
token=$($bin admin create-token --org "Acme Global" --name demo --permissions all)
# A web user: super admin (full restores), owner of Acme Global, viewer of Blue Harbor.
password=${DEMO_PASSWORD:-demo-password}
$bin admin create-user --email admin@acme.test --name "Demo admin" --super-admin --password-stdin <<<"$password" >/dev/null 2>&1 || true
$bin admin set-role --org "Acme Global" --email admin@acme.test --role owner >/dev/null
$bin admin set-role --org "Blue Harbor" --email admin@acme.test --role viewer >/dev/null
listen=${ORGBACKUP_LISTEN:-127.0.0.1:8080}
cat <<EOT

Web UI: http://$listen/  (sign in as admin@acme.test / $password; العربية from the header)
API token for Acme Global (all permissions): $token
Try:  curl -s -H "Authorization: Bearer $token" http://$listen/api/v1/backup/list
      curl -s -H "Authorization: Bearer $token" -H 'content-type: application/json' -d '{"categories":["posts"]}' http://$listen/api/v1/backup/create
OpenAPI: http://$listen/api/v1/openapi.json   (Ctrl-C stops the server)
EOT
$bin admin set-plan --org "Acme Global" --plan pro >/dev/null
exec $bin serve --listen "$listen"
