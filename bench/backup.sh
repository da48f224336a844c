#!/usr/bin/env bash
# Backup throughput and memory: backs up the largest demo org ("Acme Global") with orgbackup and
# compares it with plain `psql` running the very same `COPY (...) TO STDOUT` statements (printed by
# `orgbackup discover --sql`) in one REPEATABLE READ transaction, output to /dev/null.
#
#   BENCH_ROWS=2000000 bash bench/backup.sh     # ~1.2 GB of COPY text (default)
#   BENCH_REUSE=1 bash bench/backup.sh          # keep the bench database from an earlier run
#
# Each measurement is the best of BENCH_RUNS (default 3) runs on a warm cache.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
ensure_postgres
cargo build --release --locked -q
bin=$PWD/target/release/orgbackup
work=$PWD/var/bench
rows=${BENCH_ROWS:-2000000}
runs=${BENCH_RUNS:-3}
mkdir -p "$work"
export ORGBACKUP__DATABASE__URL=postgres://postgres@127.0.0.1:5432/orgbackup_bench
export ORGBACKUP__STORAGE__LOCAL_ROOT=$work/backups
export ORGBACKUP__BACKUP__FILES_ROOT=$work/files
export ORGBACKUP__ENCRYPTION__MASTER_KEY=${ORGBACKUP__ENCRYPTION__MASTER_KEY:-$($bin keygen)}
psql_bench=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d orgbackup_bench)

if [ "${BENCH_REUSE:-0}" = 1 ] && "${psql_bench[@]}" -Atc "SELECT 1 FROM cmis.orgs LIMIT 1" >/dev/null 2>&1; then
  echo "reusing database orgbackup_bench" >&2
else
  echo "creating the demo data ($rows analytics rows for the largest org)..." >&2
  start=$(date +%s.%N)
  $bin demo --reset --rows "$rows" >/dev/null
  echo "demo data created in $(echo "$(date +%s.%N) - $start" | bc) s" >&2
fi
org=$($bin orgs | awk '/Acme Global/ {print $1}')
"${psql_bench[@]}" -c "VACUUM ANALYZE" >/dev/null

sql=$work/copy.sql
{
  echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
  echo "SELECT set_config('app.current_org_id', '$org', true) \\g /dev/null"
  $bin discover --sql
  echo "COMMIT;"
} >"$sql"

best() { sort -n | head -n1; }

# Runs "$@" $runs times under /usr/bin/time; prints "<best seconds> <peak RSS KiB of that run>".
measure() {
  local out=$work/time.txt results=()
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$out" "$@" >/dev/null 2>"$work/stderr.txt" || { cat "$work/stderr.txt" >&2; exit 1; }
    results+=("$(cat "$out")")
  done
  printf '%s\n' "${results[@]}" | sort -n | head -n1
}

text_bytes=$("${psql_bench[@]}" -f "$sql" | wc -c)
read -r copy_s copy_kb < <(measure "${psql_bench[@]}" -o /dev/null -f "$sql")
read -r plain_s plain_kb < <(measure "$bin" backup create --org "$org" --name bench-plain)
read -r enc_s enc_kb < <(measure "$bin" backup create --org "$org" --encrypt --name bench-encrypted)
latest_enc=$(ls -t "$work"/backups/*/*.enc | head -n1)
latest_plain=$(ls -t "$work"/backups/*/*.tar.zst | head -n1)
read -r verify_s verify_kb < <(measure "$bin" verify "$latest_enc")
total_rows=$($bin inspect --json "$latest_enc" | python3 -c 'import json,sys; m=json.load(sys.stdin); print(sum(t["row_count"] for t in m["backup"]["tables"]))')

mb() { echo "scale=1; $text_bytes / $1 / 1000000" | bc; }
ratio() { echo "scale=2; $copy_s / $1" | bc; }
size() { stat -c %s "$1" | awk '{printf "%.1f MB", $1/1e6}'; }
echo
echo "org Acme Global: $total_rows rows, $(echo "scale=1; $text_bytes/1000000" | bc) MB of COPY text; best of $runs runs"
printf '%-44s %8s %10s %9s %12s %12s\n' "" "seconds" "MB/s" "vs COPY" "peak RSS" "file"
printf '%-44s %8s %10s %9s %9s MB %12s\n' "psql COPY TO STDOUT > /dev/null" "$copy_s" "$(mb "$copy_s")" "1.00x" "$((copy_kb / 1024))" "-"
printf '%-44s %8s %10s %8sx %9s MB %12s\n' "orgbackup backup (zstd-3, SHA-256)" "$plain_s" "$(mb "$plain_s")" "$(ratio "$plain_s")" "$((plain_kb / 1024))" "$(size "$latest_plain")"
printf '%-44s %8s %10s %8sx %9s MB %12s\n' "orgbackup backup --encrypt (+ AES-256-GCM)" "$enc_s" "$(mb "$enc_s")" "$(ratio "$enc_s")" "$((enc_kb / 1024))" "$(size "$latest_enc")"
printf '%-44s %8s %10s %9s %9s MB %12s\n' "orgbackup verify (encrypted file)" "$verify_s" "$(mb "$verify_s")" "-" "$((verify_kb / 1024))" "-"
