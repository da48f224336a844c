#!/usr/bin/env bash
# The API contract, checked against the running service: `orgbackup serve` on a free port, on a
# fresh database with demo data (a completed backup, an Enterprise org, a token with every
# permission), and schemathesis run against the OpenAPI document it serves, for every documented
# operation. Fails on any 5xx (but the documented 503 `storage_unavailable` of the storage routes,
# whose connections schemathesis points at random buckets: scripts/contract_test.toml), an
# undocumented status, a wrong content type or a body that does not match its schema, and on a
# request the server logged as failed. Destructive routes are exercised too (the database is
# thrown away). About 30 s after the build.
#
# One worker: hypothesis's lambda descriptions race in CPython 3.11's ast with several ("AST
# constructor recursion depth mismatch").
#
# CONTRACT_EXAMPLES sets the test cases per operation (default 30); CONTRACT_SEED a seed to
# reproduce a run. The reports (JUnit, and every request and answer as HAR) are written to
# target/contract/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
ensure_postgres
command -v schemathesis >/dev/null 2>&1 || pip install -q schemathesis

cargo build --locked -p orgbackup
bin=$PWD/target/debug/orgbackup
work=$(mktemp -d)
database="obr_contract_$(date +%s)_$$"
server_url=${ORGBACKUP_TEST_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export ORGBACKUP__DATABASE__URL="$server_url/$database"
export ORGBACKUP__STORAGE__LOCAL_ROOT="$work/backups"
export ORGBACKUP__BACKUP__FILES_ROOT="$work/files"
ORGBACKUP__ENCRYPTION__MASTER_KEY=$("$bin" keygen)
export ORGBACKUP__ENCRYPTION__MASTER_KEY
serve_pid=""
cleanup() {
  [ -z "$serve_pid" ] || kill "$serve_pid" 2>/dev/null || true
  [ -z "$serve_pid" ] || wait "$serve_pid" 2>/dev/null || true
  psql -Xq "$server_url/postgres" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

started=$(date +%s)
"$bin" demo --rows 200 >/dev/null
"$bin" admin set-plan --org "Acme Global" --plan enterprise >/dev/null
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
BACKUP_ID=$("$bin" backup create --org "Acme Global" --json | json_field backup_id)
"$bin" backup create --org "Acme Global" --encrypt --name "Encrypted" >/dev/null
DELETED_BACKUP_ID=$("$bin" backup create --org "Acme Global" --json | json_field backup_id)
token=$("$bin" admin create-token --org "Acme Global" --name contract --permissions all)

"$bin" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^listening on //p' "$work/serve.out")
  [ -n "$url" ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "orgbackup serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

# Ids for the routes that take one (random ids only reach their 404): a restore, a key, a
# schedule and a notification, made through the API itself.
api() {
  local method=$1 path=$2 body=${3:-}
  curl -sf -X "$method" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${body:+--data "$body"} "$url/api/v1$path"
}
RESTORE_ID=$(api POST /restore/start "{\"backup_id\": \"$BACKUP_ID\"}" | json_field restore_id)
KEY_ID=$(api POST /keys '{"name": "contract"}' | json_field key_id)
SCHEDULE_ID=$(api POST /schedules '{"name": "nightly", "frequency": "daily", "time_of_day": "02:30"}' | json_field schedule_id)
# (None may exist yet: a random id then, which answers 404.)
NOTIFICATION_ID=$(api GET /notifications | python3 -c 'import json, sys, uuid; data = json.load(sys.stdin)["data"]; print(data[0]["notification_id"] if data else uuid.uuid4())')
export BACKUP_ID DELETED_BACKUP_ID RESTORE_ID KEY_ID SCHEDULE_ID NOTIFICATION_ID

mkdir -p target/contract
status=0
schemathesis --config-file scripts/contract_test.toml run "$url/api/v1/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --header "Authorization: Bearer $token" \
  --phases examples,coverage,fuzzing \
  --max-examples "${CONTRACT_EXAMPLES:-30}" \
  ${CONTRACT_SEED:+--seed "$CONTRACT_SEED"} \
  --workers 1 \
  --request-timeout 30 \
  --continue-on-failure \
  --suppress-health-check all \
  --report junit,har --report-junit-path target/contract/junit.xml --report-har-path target/contract/requests.har \
  || status=$?
if grep -q 'request failed\|panicked' "$work/serve.log"; then
  echo "the server logged errors:" >&2
  grep 'request failed\|panicked' "$work/serve.log" | head -20 >&2
  status=1
fi
echo "contract test: $(($(date +%s) - started)) s" >&2
exit "$status"
