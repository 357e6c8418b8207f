#!/usr/bin/env bash
# ensure-postgres.sh makes sure PostgreSQL server binaries (initdb, postgres) exist for the tests, which start
# their own throwaway server. It installs Debian's postgresql package when running as root with apt-get, and
# otherwise explains what to install. It never starts a server.
set -euo pipefail

if [[ -n "${CRMSYNC_PG_BIN:-}" && -x "${CRMSYNC_PG_BIN}/initdb" ]]; then exit 0; fi
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; then exit 0; fi

if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
  echo "ensure-postgres: installing PostgreSQL server binaries with apt-get (tests start their own instance)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  # Debian starts a cluster on install; the tests never use it.
  (command -v service >/dev/null && service postgresql stop >/dev/null 2>&1) || true
  exit 0
fi

cat >&2 <<'MSG'
ensure-postgres: PostgreSQL server binaries (initdb, postgres) were not found.
Install them (Debian/Ubuntu: sudo apt-get install postgresql; macOS: brew install postgresql@15),
or set CRMSYNC_PG_BIN to the directory that holds initdb and postgres.
MSG
exit 1
