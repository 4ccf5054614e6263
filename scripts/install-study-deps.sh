#!/usr/bin/env bash
# install-study-deps.sh installs what `make study` runs on the faultfs
# mount: fusermount3 (fuse3), sqlite3, redis-server and redis-cli, gcc and
# the LevelDB and LMDB development libraries for the study's small C
# clients (study/csrc), and PostgreSQL 15. Idempotent and quiet when everything is present;
# when not root it says what is missing and exits 0 (the study then skips
# those subjects and says so in docs/study.md).
set -euo pipefail

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

have() {
	case "$1" in
	/*) [[ -e "$1" ]] ;;
	*) command -v "$1" >/dev/null 2>&1 ;;
	esac
}

missing=()
for pair in "${pairs[@]}"; do
	tool=${pair%%:*}
	pkg=${pair#*:}
	if ! have "$tool" && [[ " ${missing[*]-} " != *" $pkg "* ]]; then
		missing+=("$pkg")
	fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	echo "install-study-deps: missing ${missing[*]}; install them as root (the study skips what is missing)" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-study-deps: installed ${missing[*]}"
