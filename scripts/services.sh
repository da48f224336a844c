# Sourced by the scripts: starts what the product and its tests need when it is not running.

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    return 0
  fi
  echo "starting PostgreSQL..." >&2
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && return 0
    sleep 1
  done
  echo "PostgreSQL is not reachable on 127.0.0.1:5432; start it and run again" >&2
  return 1
}

# What the tests need beyond Rust and PostgreSQL, installed when missing (a fresh machine has
# none of it): zstd and the PostgreSQL client for the tests that unpack archives with standard
# tools, Chromium and chromedriver for the browser tests, aiosmtpd (a real SMTP server) for the
# notification tests, moto (a real local S3 server) for the S3 tests, schemathesis for the API
# contract test (scripts/contract_test.sh).
ensure_test_tools() {
  local need=()
  command -v zstd >/dev/null 2>&1 || need+=(zstd)
  command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}..." >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
  fi
  python3 -c 'import aiosmtpd' 2>/dev/null || pip install -q aiosmtpd
  command -v moto_server >/dev/null 2>&1 || pip install -q 'moto[server]'
  command -v schemathesis >/dev/null 2>&1 || pip install -q schemathesis
}
