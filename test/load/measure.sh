#!/usr/bin/env bash
# measure.sh [OUTDIR]: the measurements of test/load/README.md.
#
# Builds ./cmd/demo and mcp-auth-load, then for each storage (SQLite; PostgreSQL when
# FOSITE_MCP_POSTGRES_DSN is set, as ./test/with-postgres.sh sets it) and each access
# token format (opaque, jwt) starts a fresh demo on a free 127.0.0.1 port with
# -auto-approve alice -rate-limit=false and runs every phase at the concurrency levels
# $CONC (default 1,8,32) for $DURATION each (default 10s); DBS="sqlite postgres" and
# TOKENS="opaque jwt" select runs. Each run writes OUTDIR/DB-TOKENS.txt (the table and
# the run's CPU split), OUTDIR/DB-TOKENS.json and OUTDIR/DB-TOKENS.demo.log (the demo's
# request log, written to a file as a deployment would). Everything stays on loopback;
# the demos are stopped with SIGTERM after their run.
#
#   ./test/with-postgres.sh test/load/measure.sh /tmp/mcp-auth-load
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/mcp-auth-load-results}
conc=${CONC:-1,8,32}
duration=${DURATION:-10s}
mkdir -p "$out"
tmp=$(mktemp -d /tmp/mcp-auth-load.XXXXXX)
demo_pid=
cleanup() {
	if [ -n "$demo_pid" ]; then kill -TERM "$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

go build -o "$tmp/demo" ./cmd/demo
go build -o "$tmp/mcp-auth-load" ./test/load/cmd/mcp-auth-load
{
	echo "commit ${SOURCE_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- cmd mcp provider storage compat 2>/dev/null || echo " (with uncommitted changes)")}"
	echo "$(go version)"
	echo "nproc $(nproc)"
	lscpu | head -20
	echo "uptime before: $(uptime)"
} >"$out/machine.txt"
load=$(cut -d' ' -f1 /proc/loadavg)
if awk "BEGIN{exit !($load >= 0.5)}"; then
	echo "measure: WARNING: load average $load ≥ 0.5: the machine is not idle" >&2
fi

# CPU accounting in clock ticks (USER_HZ = 100): the busy time of all cores, a
# process's own and reaped children's time, and the PostgreSQL cluster's (the
# postmaster of the DSN's port with its children: its reaped children are the backends
# that have exited).
machine_busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
proc_cpu() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
pg_cpu() {
	local pid pm sum=0 port
	port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"${FOSITE_MCP_POSTGRES_DSN:-}")
	pm=$([ -n "$port" ] && pgrep -f -- "-p $port -k" | head -1 || true)
	[ -n "$pm" ] || { echo 0; return; }
	for pid in "$pm" $(pgrep -P "$pm" || true); do
		sum=$((sum + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$sum"
}

dbs=(sqlite)
if [ -n "${FOSITE_MCP_POSTGRES_DSN:-}" ]; then dbs+=(postgres); fi
if [ -n "${DBS:-}" ]; then read -ra dbs <<<"$DBS"; fi
read -ra formats <<<"${TOKENS:-opaque jwt}"
for db in "${dbs[@]}"; do
	for tokens in "${formats[@]}"; do
		name=$db-$tokens
		args=(-addr 127.0.0.1:0 -auto-approve alice -rate-limit=false -access-tokens "$tokens" -secrets "$tmp/$name.secrets" -db "$tmp/$name.db")
		if [ "$db" = postgres ]; then
			# A fresh database per run on the throwaway cluster.
			psql "$FOSITE_MCP_POSTGRES_DSN" -q -c "DROP DATABASE IF EXISTS load_$tokens" -c "CREATE DATABASE load_$tokens" >/dev/null
			args+=(-postgres "${FOSITE_MCP_POSTGRES_DSN/dbname=postgres/dbname=load_$tokens}")
		fi
		"$tmp/demo" "${args[@]}" >"$tmp/$name.banner" 2>"$out/$name.demo.log" &
		demo_pid=$!
		url=
		for _ in $(seq 1 300); do
			url=$(awk '$1 == "MCP" && $2 == "server" {print $3}' "$tmp/$name.banner")
			[ -n "$url" ] && break
			sleep 0.1
		done
		[ -n "$url" ] || { echo "measure: the demo printed no banner" >&2; cat "$out/$name.demo.log" >&2; exit 1; }
		curl -fsS --retry 20 --retry-connrefused --retry-delay 0 -o /dev/null "${url%/mcp}/healthz"
		echo "measure: $name at $url (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
		rc=0
		busy0=$(machine_busy) demo0=$(proc_cpu "$demo_pid") pg0=$(pg_cpu)
		TIMEFORMAT='harness-cpu %U %S'
		{ time "$tmp/mcp-auth-load" -url "$url" -c "$conc" -duration "$duration" -json-file "$out/$name.json" -q >"$out/$name.txt"; } 2>"$tmp/time" || rc=$?
		cat "$out/$name.txt"
		harness=$(awk '$1 == "harness-cpu" {print $2 + $3}' "$tmp/time")
		busy1=$(machine_busy) demo1=$(proc_cpu "$demo_pid") pg1=$(pg_cpu)
		awk -v b="$((busy1 - busy0))" -v d="$((demo1 - demo0))" -v p="$((pg1 - pg0))" -v h="$harness" 'BEGIN {
			printf "CPU over the whole run, setup included (s): machine busy %.1f = demo %.1f + PostgreSQL %.1f + harness %.1f + other processes %.1f\n",
				b / 100, d / 100, p / 100, h, b / 100 - d / 100 - p / 100 - h }' | tee -a "$out/$name.txt"
		kill -TERM "$demo_pid"
		wait "$demo_pid" || { echo "measure: the demo did not stop cleanly" >&2; rc=1; }
		demo_pid=
		[ "$rc" = 0 ] || { echo "measure: $name: mcp-auth-load exited $rc" >&2; exit "$rc"; }
	done
done
echo "uptime after: $(uptime)" >>"$out/machine.txt"
