#!/usr/bin/env bash
# measure.sh [compare|soak] [OUTDIR]: the measurements of test/load/README.md.
#
# Without a mode: builds ./cmd/demo and mcp-auth-load, then for each storage (SQLite;
# PostgreSQL when FOSITE_MCP_POSTGRES_DSN is set, as ./test/with-postgres.sh sets it) and
# each access token format (opaque, jwt) starts a fresh demo on a free 127.0.0.1 port with
# -auto-approve alice -rate-limit=false and runs every phase at the concurrency levels
# $CONC (default 1,8,32) for $DURATION each (default 10s); DBS="sqlite postgres" and
# TOKENS="opaque jwt" select runs. Each run writes OUTDIR/DB-TOKENS.txt (the table and
# the run's CPU split), OUTDIR/DB-TOKENS.json and OUTDIR/DB-TOKENS.demo.log (the demo's
# request log, written to a file as a deployment would).
#
# compare (issue 9): for each storage, a fresh demo (opaque tokens) and a fresh
# TypeScript model server (test/load/ts-model.sh prepares it: npm ci once into a cache)
# side by side; `mcp-auth-load compare` runs each phase at each level of $CONC (default
# 8,32) for $DURATION on one server, then on the other (alternating which goes first),
# with the bearer phase's method $BEARER_METHOD (default initialize). Writes
# OUTDIR/compare-DB.txt (a table per phase and level with both throughputs, p50/p99,
# both servers' CPU time per operation (ours with PostgreSQL's), the harness's CPU time per
# operation and the machine's busy cores, the ratios, both RSS;
# the CPU split), compare-DB.json and both servers' logs. Extra demo flags in $DEMO_ARGS
# (e.g. -gc-percent=100).
#
# soak (issue 14): for each storage a fresh demo (opaque tokens) under `mcp-auth-load
# soak` for $SOAK_DURATION (default 3m, at most 30m) with $SOAK_C workers (default 4),
# sampled every $SOAK_INTERVAL (default 15s); extra demo flags in $DEMO_ARGS. Writes
# OUTDIR/soak-DB.txt (the time series) and soak-DB.json.
#
# Everything stays on loopback; the servers are stopped with SIGTERM after their run.
#
#   ./test/with-postgres.sh test/load/measure.sh /tmp/mcp-auth-load
#   ./test/with-postgres.sh test/load/measure.sh compare /tmp/mcp-auth-compare   # make bench-compare
#   ./test/with-postgres.sh test/load/measure.sh soak /tmp/mcp-auth-soak         # make soak
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=matrix
case "${1:-}" in compare | soak) mode=$1; shift ;; esac
out=${1:-/tmp/mcp-auth-load-results}
if [ "$mode" = compare ]; then conc=${CONC:-8,32}; else conc=${CONC:-1,8,32}; fi
duration=${DURATION:-10s}
mkdir -p "$out"
tmp=$(mktemp -d /tmp/mcp-auth-load.XXXXXX)
demo_pid= model_pid=
stop() { # stop PIDVAR: SIGTERM, wait, and clear the variable
	local pid=${!1}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	printf -v "$1" ''
}
cleanup() {
	stop demo_pid
	stop model_pid
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

go build -o "$tmp/demo" ./cmd/demo
go build -o "$tmp/mcp-auth-load" ./test/load/cmd/mcp-auth-load
model_dir=
if [ "$mode" = compare ]; then model_dir=$(test/load/ts-model.sh); fi
{
	echo "commit ${SOURCE_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- cmd mcp provider storage compat 2>/dev/null || echo " (with uncommitted changes)")}"
	echo "$(go version)"
	if [ -n "$model_dir" ]; then echo "node $(node -v), model $model_dir"; fi
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
proc_cpu() { if [ -n "${1:-}" ]; then awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; else echo 0; fi; }
pg_postmaster() {
	local port
	port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"${FOSITE_MCP_POSTGRES_DSN:-}")
	if [ -n "$port" ]; then pgrep -f -- "-p $port -k" | head -1 || true; fi
}
pg_cpu() {
	local pid pm sum=0
	pm=$(pg_postmaster)
	[ -n "$pm" ] || { echo 0; return; }
	for pid in "$pm" $(pgrep -P "$pm" || true); do
		sum=$((sum + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$sum"
}

# start_demo NAME DB TOKENS [FLAGS…]: a fresh demo; sets demo_pid, url and demo_args.
start_demo() {
	local name=$1 db=$2 tokens=$3
	shift 3
	demo_args=(-addr 127.0.0.1:0 -auto-approve alice -rate-limit=false -access-tokens "$tokens" -secrets "$tmp/$name.secrets" -db "$tmp/$name.db" "$@")
	if [ "$db" = postgres ]; then
		# A fresh database per run on the throwaway cluster.
		local dbname=load_${name//-/_}
		psql "$FOSITE_MCP_POSTGRES_DSN" -q -c "DROP DATABASE IF EXISTS $dbname" -c "CREATE DATABASE $dbname" >/dev/null
		demo_dsn=${FOSITE_MCP_POSTGRES_DSN/dbname=postgres/dbname=$dbname}
		demo_args+=(-postgres "$demo_dsn")
	fi
	: >"$tmp/$name.banner" # exists before the demo writes to it: awk reads it at once
	"$tmp/demo" "${demo_args[@]}" >"$tmp/$name.banner" 2>"$out/$name.demo.log" &
	demo_pid=$!
	url=
	for _ in $(seq 1 300); do
		url=$(awk '$1 == "MCP" && $2 == "server" {print $3}' "$tmp/$name.banner")
		[ -n "$url" ] && break
		sleep 0.1
	done
	[ -n "$url" ] || { echo "measure: the demo printed no banner" >&2; cat "$out/$name.demo.log" >&2; exit 1; }
	curl -fsS --retry 20 --retry-connrefused --retry-delay 0 -o /dev/null "${url%/mcp}/healthz"
}

# start_model NAME: a fresh TypeScript model server on a free port; sets model_pid and
# model_url.
start_model() {
	local port
	port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
	node "$model_dir/server.mjs" "$port" --auto-approve alice >"$out/$1.model.log" 2>&1 &
	model_pid=$!
	model_url=http://127.0.0.1:$port/mcp
	curl -fsS --retry 50 --retry-connrefused --retry-delay 0 --retry-max-time 30 -o /dev/null \
		"http://127.0.0.1:$port/.well-known/oauth-protected-resource/mcp" ||
		{ echo "measure: the model server did not start" >&2; cat "$out/$1.model.log" >&2; exit 1; }
}

dbs=(sqlite)
if [ -n "${FOSITE_MCP_POSTGRES_DSN:-}" ]; then dbs+=(postgres); fi
if [ -n "${DBS:-}" ]; then read -ra dbs <<<"$DBS"; fi
read -ra formats <<<"${TOKENS:-opaque jwt}"
TIMEFORMAT='harness-cpu %U %S'
case $mode in
matrix)
	for db in "${dbs[@]}"; do
		for tokens in "${formats[@]}"; do
			name=$db-$tokens
			start_demo "$name" "$db" "$tokens"
			echo "measure: $name at $url (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
			rc=0
			busy0=$(machine_busy) demo0=$(proc_cpu "$demo_pid") pg0=$(pg_cpu)
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
	;;
compare)
	for db in "${dbs[@]}"; do
		name=compare-$db
		read -ra extra <<<"${DEMO_ARGS:-}"
		start_demo "$name" "$db" opaque "${extra[@]}"
		start_model "$name"
		echo "measure: $name: ours at $url, model at $model_url (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
		rc=0
		helper=()
		if [ "$db" = postgres ]; then helper=(-ours-helper-pid "$(pg_postmaster)"); fi
		busy0=$(machine_busy) demo0=$(proc_cpu "$demo_pid") model0=$(proc_cpu "$model_pid") pg0=$(pg_cpu)
		{ time "$tmp/mcp-auth-load" compare -ours "$url" -ours-pid "$demo_pid" "${helper[@]}" -model "$model_url" -model-pid "$model_pid" \
			-c "$conc" -duration "$duration" -phases "${PHASES:-login,bearer,refresh}" -bearer-method "${BEARER_METHOD:-initialize}" \
			-json-file "$out/$name.json" -q >"$out/$name.txt"; } 2>"$tmp/time" || rc=$?
		cat "$out/$name.txt"
		harness=$(awk '$1 == "harness-cpu" {print $2 + $3}' "$tmp/time")
		busy1=$(machine_busy) demo1=$(proc_cpu "$demo_pid") model1=$(proc_cpu "$model_pid") pg1=$(pg_cpu)
		awk -v b="$((busy1 - busy0))" -v d="$((demo1 - demo0))" -v m="$((model1 - model0))" -v p="$((pg1 - pg0))" -v h="$harness" 'BEGIN {
			printf "CPU over the whole run, setup included (s): machine busy %.1f = demo %.1f + PostgreSQL %.1f + model %.1f + harness %.1f + other processes %.1f\n",
				b / 100, d / 100, p / 100, m / 100, h, b / 100 - d / 100 - p / 100 - m / 100 - h }' | tee -a "$out/$name.txt"
		stop demo_pid
		stop model_pid
		[ "$rc" = 0 ] || { echo "measure: $name: mcp-auth-load compare exited $rc" >&2; exit "$rc"; }
	done
	;;
soak)
	for db in "${dbs[@]}"; do
		name=soak-$db
		read -ra extra <<<"${DEMO_ARGS:-}"
		start_demo "$name" "$db" opaque "${extra[@]}"
		size=(-db-file "$tmp/$name.db")
		if [ "$db" = postgres ]; then size=(-postgres "$demo_dsn"); fi
		echo "measure: $name at $url for ${SOAK_DURATION:-3m} (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
		rc=0
		"$tmp/mcp-auth-load" soak -url "$url" -server-pid "$demo_pid" "${size[@]}" -duration "${SOAK_DURATION:-3m}" \
			-interval "${SOAK_INTERVAL:-15s}" -c "${SOAK_C:-4}" -json-file "$out/$name.json" -q >"$out/$name.txt" || rc=$?
		cat "$out/$name.txt"
		stop demo_pid
		[ "$rc" = 0 ] || { echo "measure: $name: mcp-auth-load soak exited $rc" >&2; exit "$rc"; }
	done
	;;
esac
echo "uptime after: $(uptime)" >>"$out/machine.txt"
