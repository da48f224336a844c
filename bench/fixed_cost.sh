#!/usr/bin/env bash
# A restore's fixed cost: a 100-table tenant schema (50 tables with the org column, 50 children
# owned through a NOT NULL key), 10 rows per table for the org restored, 3 orgs in all. Times
# `restore plan` and a full `restore apply` of that org, over TCP and over the Unix socket (which
# never waits on Nagle + delayed ACK): the two must be close, and both well under a second.
#
#   bash bench/fixed_cost.sh          # TABLES=100 ROWS=10 RUNS=5 by default; BIN=... to use a built binary
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
ensure_postgres
if [ -z "${BIN:-}" ]; then cargo build --release --locked -q; fi
bin=${BIN:-$PWD/target/release/orgbackup}     # BIN=target/debug/orgbackup to skip the release build
tables=${TABLES:-100}
rows=${ROWS:-10}
runs=${RUNS:-5}
work=$PWD/var/bench-fixed
rm -rf "$work" && mkdir -p "$work"
db=orgbackup_bench_fixed
psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
{
  echo "CREATE SCHEMA fx; CREATE TABLE fx.orgs (org_id uuid PRIMARY KEY, name text NOT NULL);"
  echo "INSERT INTO fx.orgs SELECT ('00000000-0000-0000-0000-00000000000' || i)::uuid, 'org ' || i FROM generate_series(1, 3) i;"
  half=$((tables / 2))
  for t in $(seq 1 "$half"); do
    echo "CREATE TABLE fx.parent_$t (id int PRIMARY KEY, org_id uuid NOT NULL REFERENCES fx.orgs, title text, at timestamptz DEFAULT now());"
    echo "CREATE TABLE fx.child_$t (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES fx.parent_$t, body text);"
    echo "INSERT INTO fx.parent_$t SELECT o * 1000 + i, ('00000000-0000-0000-0000-00000000000' || o)::uuid, 'p ' || i FROM generate_series(1, 3) o, generate_series(1, $rows) i;"
    echo "INSERT INTO fx.child_$t SELECT id, id, 'c ' || id FROM fx.parent_$t;"
  done
} | psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d $db
cat > "$work/orgbackup.toml" <<TOML
[tenancy]
schemas = ["fx"]
org_table = "fx.orgs"
file_references = []
[tenancy.categories]
TOML
export ORGBACKUP__STORAGE__LOCAL_ROOT=$work/backups
unset ORGBACKUP__ENCRYPTION__MASTER_KEY
org=00000000-0000-0000-0000-000000000002
run() { # url label command...
  local url=$1 label=$2; shift 2
  local best=999
  for _ in $(seq 1 "$runs"); do
    local start end took
    start=$(date +%s.%N)
    ORGBACKUP__DATABASE__URL=$url "$bin" --config "$work/orgbackup.toml" "$@" >/dev/null
    end=$(date +%s.%N)
    took=$(echo "$end - $start" | bc)
    best=$(echo "if ($took < $best) $took else $best" | bc)
  done
  printf '%-34s best of %s: %6.3f s\n' "$label" "$runs" "$best"
}
tcp=postgres://postgres@127.0.0.1:5432/$db
unix="postgres://postgres@localhost/$db?host=/var/run/postgresql"
ORGBACKUP__DATABASE__URL=$tcp "$bin" --config "$work/orgbackup.toml" migrate >/dev/null
backup=$(ORGBACKUP__DATABASE__URL=$tcp "$bin" --config "$work/orgbackup.toml" backup create --org "$org" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])')
echo "$tables tables, $rows rows per table for the org restored"
run "$tcp" "restore plan (TCP)" restore plan "$backup"
run "$unix" "restore plan (Unix socket)" restore plan "$backup"
run "$tcp" "restore apply --mode full (TCP)" restore apply "$backup" --mode full --confirm-full
run "$unix" "restore apply --mode full (Unix)" restore apply "$backup" --mode full --confirm-full
