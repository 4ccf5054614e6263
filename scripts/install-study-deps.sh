#!/usr/bin/env bash
# install-study-deps.sh installs what `make study` runs on the faultfs
# mount: fusermount3 (fuse3), sqlite3, redis-server and redis-cli, gcc and
# the LevelDB and LMDB development libraries for the study's small C
# clients (study/csrc), and PostgreSQL 15 (see apt-tools.sh).
# Idempotent: nothing is installed when everything is present;
# when not root it says what is missing and exits 0 (the study then skips
# those subjects and says so in docs/study.md).
set -euo pipefail

source "$(dirname "$0")/apt-tools.sh"

pairs=(
	"fusermount3:fuse3"
	"sqlite3:sqlite3"
	"redis-server:redis-server"
	"redis-cli:redis-tools"
	"gcc:gcc"
	"/usr/include/leveldb/c.h:libleveldb-dev"
	"/usr/include/lmdb.h:liblmdb-dev"
	"/usr/lib/postgresql/15/bin/postgres:postgresql-15"
)

install_tools install-study-deps "${pairs[@]}"
