#!/usr/bin/env bash
# install-bench-deps.sh installs the peer servers and tools that `make bench`
# runs against holdfast: redis-server (Redis with appendfsync always),
# redis-benchmark (redis-tools) and etcd (etcd-server, one member).
# The embedded peers (bbolt, Pebble, Badger, SQLite) are Go modules of the
# separate bench/ module and need nothing here except gcc for
# github.com/mattn/go-sqlite3 (cgo).
#
# Idempotent: nothing is installed, and apt-get update is not run, when every
# tool is already present. When not root, or without apt-get, it prints what
# is missing and exits 0; the benchmark then skips those peers and says so
# in the report.
set -euo pipefail

# tool:package pairs.
pairs=(
	"redis-server:redis-server"
	"redis-benchmark:redis-tools"
	"redis-cli:redis-tools"
	"etcd:etcd-server"
	"gcc:gcc"
)

have() {
	command -v "$1" >/dev/null 2>&1 && return 0
	local d
	for d in /usr/sbin /sbin /usr/local/sbin /usr/bin; do
		[[ -x "$d/$1" ]] && return 0
	done
	return 1
}

missing_pkgs=()
missing_tools=()
for pair in "${pairs[@]}"; do
	tool=${pair%%:*}
	pkg=${pair#*:}
	if ! have "$tool"; then
		missing_tools+=("$tool")
		if [[ " ${missing_pkgs[*]-} " != *" $pkg "* ]]; then
			missing_pkgs+=("$pkg")
		fi
	fi
done

if [[ ${#missing_pkgs[@]} -eq 0 ]]; then
	echo "install-bench-deps: all tools present (${pairs[*]%%:*})"
	exit 0
fi

echo "install-bench-deps: missing tools: ${missing_tools[*]} (packages: ${missing_pkgs[*]})"

if [[ $(id -u) -ne 0 ]]; then
	echo "install-bench-deps: not root; cannot install ${missing_pkgs[*]}; those peers will be skipped." >&2
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-bench-deps: apt-get not found; install ${missing_pkgs[*]} by hand." >&2
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps etcd-server from pulling in extras; the
# Debian packages start no service we rely on (the benchmark starts its own
# servers on loopback ports of its own, in temporary directories).
apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"

for tool in "${missing_tools[@]}"; do
	if ! have "$tool"; then
		echo "install-bench-deps: $tool still missing after install" >&2
		exit 1
	fi
done
echo "install-bench-deps: installed ${missing_pkgs[*]}"
