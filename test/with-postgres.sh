#!/usr/bin/env bash
# with-postgres.sh CMD...: run CMD with a throwaway PostgreSQL cluster.
#
# The cluster is created from the machine's PostgreSQL binaries (Debian's postgresql
# package, installed with apt when missing and we are root), as a non-root user, in a
# temporary directory, listening only on a free loopback port. Its DSN reaches CMD as
# FOSITE_MCP_POSTGRES_DSN. The cluster and its directory are removed when CMD exits.
# Tests that stop and restart a database (storage outages) start clusters of their own
# with the same machinery (test/internal/pgcluster): the binaries' directory reaches CMD
# as FOSITE_MCP_POSTGRES_BINDIR and the account they must run as (empty: the current
# user) as FOSITE_MCP_POSTGRES_RUNAS.
#
# Without PostgreSQL binaries CMD runs without the DSN after a loud notice (tests then
# run on SQLite only), unless REQUIRE_POSTGRES=1, in which case this script fails.
set -euo pipefail

log() { printf 'with-postgres: %s\n' "$*" >&2; }

find_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v initdb)"; return 0
	fi
	return 1
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	log "PostgreSQL binaries not found; installing Debian's postgresql package"
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || log "apt-get install postgresql failed"
	bindir=$(find_bindir || true)
fi
if [ -z "$bindir" ]; then
	if [ "${REQUIRE_POSTGRES:-0}" = 1 ]; then
		log "ERROR: PostgreSQL is required (REQUIRE_POSTGRES=1) but no initdb/pg_ctl was found"
		exit 1
	fi
	printf '\n%s\n%s\n%s\n\n' \
		'************************************************************************' \
		'* NOTICE: PostgreSQL binaries not found: running the SQLite tests ONLY. *' \
		'************************************************************************' >&2
	exec "$@"
fi

# PostgreSQL refuses to run as root: use an unprivileged account.
runas=()
pguser=
if [ "$(id -u)" = 0 ]; then
	pguser=postgres
	if ! id "$pguser" >/dev/null 2>&1; then
		pguser=fositemcp
		id "$pguser" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$pguser"
	fi
	runas=(runuser -u "$pguser" --)
fi

tmp=$(mktemp -d /tmp/fosite-mcp-pg.XXXXXX)
chmod 755 "$tmp"
[ ${#runas[@]} -eq 0 ] || chown "${pguser}:" "$tmp"

# free_port prints a port nobody listens on, below Linux's ephemeral range (32768–60999
# by default), where the tests' own listeners and outgoing connections take theirs.
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
	done
	return 1
}

cleanup() {
	"${runas[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"${runas[@]}" "$bindir/initdb" -D "$tmp/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; exit 1; }
# The port may be taken between the probe and the start (other test runs on the
# machine): a few attempts, each on another port.
for attempt in 1 2 3 4 5; do
	port=$(free_port)
	if "${runas[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 start \
		-o "-h 127.0.0.1 -p $port -k $tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null; then
		break
	fi
	if [ "$attempt" = 5 ] || ! grep -q "could not create any TCP/IP sockets\|Address already in use" "$tmp/server.log"; then
		cat "$tmp/server.log" >&2
		exit 1
	fi
	log "port $port was taken; trying another"
done
log "PostgreSQL $("$bindir/postgres" --version | awk "{print \$3}") on 127.0.0.1:$port (data in $tmp)"

export FOSITE_MCP_POSTGRES_DSN="host=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=disable"
export FOSITE_MCP_POSTGRES_BINDIR="$bindir"
export FOSITE_MCP_POSTGRES_RUNAS="$pguser"
set +e
"$@"
rc=$?
set -e
exit $rc
