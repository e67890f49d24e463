#!/usr/bin/env bash
# ts-model.sh: prepares a runnable copy of the TypeScript model server (mcp-oauth-server
# 1.0.0 behind server.mjs, see /work/shared/peers/mcp-oauth-server/README.md) and prints
# its directory.
#
# The shared directory may be read-only, so the model's package.json, package-lock.json
# and server.mjs are copied to a cache directory named after their hash
# (${TS_MODEL_CACHE:-${XDG_CACHE_HOME:-~/.cache}/fosite-mcp}/ts-model-HASH) and `npm ci`
# installs the locked packages there once (from the npm registry). TS_MODEL_SRC names
# the model's directory when it is not ../shared/peers/mcp-oauth-server beside the
# repository's parent or /work/shared/peers/mcp-oauth-server. Needs Node.js 20 or later
# (the lock's @hono/node-server requires it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src=${TS_MODEL_SRC:-}
if [ -z "$src" ]; then
	for d in "$root/../shared/peers/mcp-oauth-server" "$root/../../shared/peers/mcp-oauth-server" /work/shared/peers/mcp-oauth-server; do
		if [ -f "$d/server.mjs" ]; then src=$d; break; fi
	done
fi
[ -n "$src" ] && [ -f "$src/server.mjs" ] || { echo "ts-model.sh: the model's server.mjs not found (set TS_MODEL_SRC)" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "ts-model.sh: node and npm are needed" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "ts-model.sh: Node.js $(node -v): the model needs 20 or later" >&2; exit 1; }
files=(package.json package-lock.json server.mjs)
hash=$(cd "$src" && cat "${files[@]}" | sha256sum | cut -c1-12)
cache=${TS_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fosite-mcp}
dest=$cache/ts-model-$hash
if [ ! -f "$dest/.ready" ]; then
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.ts-model.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	(cd "$src" && cp "${files[@]}" "$tmp/")
	chmod u+w "$tmp"/*
	(cd "$tmp" && npm ci --silent --no-audit --no-fund >&2)
	touch "$tmp/.ready"
	# Another run may have finished first: keep its copy.
	mv -T "$tmp" "$dest" 2>/dev/null || rm -rf "$tmp"
	trap - EXIT
fi
echo "$dest"
