#!/usr/bin/env bash
# Restore throughput: a full restore of the largest demo org ("Acme Global") into an empty org,
# next to plain `COPY FROM` of the very same rows (the backup's own COPY text, unpacked with zstd
# and tar) into the same indexed tables, in one transaction, by psql.
#
#   BENCH_ROWS=2000000 bash bench/restore.sh     # default; BENCH_REUSE=1 keeps the bench database
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
ensure_postgres
cargo build --release --locked -q
bin=$PWD/target/release/orgbackup
work=$PWD/var/bench
rows=${BENCH_ROWS:-2000000}
mkdir -p "$work"
export ORGBACKUP__DATABASE__URL=postgres://postgres@127.0.0.1:5432/orgbackup_bench
export ORGBACKUP__STORAGE__LOCAL_ROOT=$work/backups
export ORGBACKUP__BACKUP__FILES_ROOT=$work/files
unset ORGBACKUP__ENCRYPTION__MASTER_KEY
psql_bench=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d orgbackup_bench)

if [ "${BENCH_REUSE:-0}" = 1 ] && "${psql_bench[@]}" -Atc "SELECT 1 FROM cmis.orgs LIMIT 1" >/dev/null 2>&1; then
  echo "reusing database orgbackup_bench" >&2
else
  $bin demo --reset --rows "$rows" >/dev/null
fi
org=$($bin orgs | awk '/Acme Global/ {print $1}')
backup=$($bin backup create --org "$org" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])')

# Empties the org: its rows of every tenant table, children first.
empty_org() {
  "${psql_bench[@]}" <<SQL
BEGIN;
DELETE FROM cmis.post_tags pt USING cmis.posts p WHERE pt.post_id = p.post_id AND p.org_id = '$org';
DELETE FROM cmis.post_comments c USING cmis.posts p WHERE c.post_id = p.post_id AND p.org_id = '$org' AND c.parent_comment_id IS NOT NULL;
DELETE FROM cmis.post_comments c USING cmis.posts p WHERE c.post_id = p.post_id AND p.org_id = '$org';
DELETE FROM cmis.analytics_events WHERE org_id = '$org';
DELETE FROM cmis.media_assets WHERE org_id = '$org';
DELETE FROM cmis.tags WHERE org_id = '$org';
DELETE FROM cmis.posts WHERE org_id = '$org';
DELETE FROM cmis.ads WHERE org_id = '$org';
DELETE FROM cmis.ad_sets WHERE org_id = '$org';
DELETE FROM cmis.campaigns WHERE org_id = '$org';
DELETE FROM cmis.settings WHERE org_id = '$org';
COMMIT;
VACUUM ANALYZE;
SQL
}

# The baseline script: COPY FROM of each table's rows, in the backup's (dependency) order.
unpacked=$work/unpacked
rm -rf "$unpacked" && mkdir -p "$unpacked"
zstd -dc "$backup" | tar -xf - -C "$unpacked"
python3 - "$unpacked" >"$work/copy_from.sql" <<'PY'
import json, os, sys
root = sys.argv[1]
manifest = json.load(open(os.path.join(root, "manifest.json")))
print("BEGIN;")
for table in manifest["backup"]["tables"]:
    name = '"%s"."%s"' % (table["name"]["schema"], table["name"]["name"])
    cols = ", ".join('"%s"' % c for c in table["data_columns"])
    data = os.path.join(root, "table-%s.copy" % table["name"]["name"])
    with open(data, "wb") as out:
        for chunk in table["chunks"]:
            out.write(open(os.path.join(root, chunk), "rb").read())
    print("\\copy %s (%s) FROM '%s'" % (name, cols, data))
print("COMMIT;")
PY
text_bytes=$(cat "$unpacked"/table-*.copy | wc -c)
total_rows=$(cat "$unpacked"/table-*.copy | wc -l)

empty_org
start=$(date +%s.%N)
"${psql_bench[@]}" -f "$work/copy_from.sql"
copy_s=$(echo "$(date +%s.%N) - $start" | bc)

empty_org
/usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" restore apply "$backup" --mode full --confirm-full >/dev/null
read -r restore_s restore_kb <"$work/time.txt"

echo
echo "org Acme Global: $total_rows rows, $(echo "scale=1; $text_bytes/1000000" | bc) MB of COPY text, restored into the emptied org"
printf '%-52s %8s %10s %10s %10s\n' "" "seconds" "rows/s" "vs COPY" "peak RSS"
printf '%-52s %8.2f %10.0f %10s %10s\n' "psql COPY FROM (same rows, same indexed tables, 1 tx)" "$copy_s" "$(echo "$total_rows / $copy_s" | bc)" "1.00x" "-"
printf '%-52s %8.2f %10.0f %9.2fx %7s MB\n' "orgbackup restore apply --mode full" "$restore_s" "$(echo "$total_rows / $restore_s" | bc)" "$(echo "scale=2; $copy_s / $restore_s" | bc)" "$((restore_kb / 1024))"
