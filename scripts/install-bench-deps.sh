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
source "$(dirname "$0")/apt-tools.sh"

pairs=(
	"redis-server:redis-server"
	"redis-benchmark:redis-tools"
	"redis-cli:redis-tools"
	"etcd:etcd-server"
	"gcc:gcc"
)

install_tools install-bench-deps "${pairs[@]}"
