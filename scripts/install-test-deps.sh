#!/usr/bin/env bash
# install-test-deps.sh installs the system tools that holdfast's file-system
# tests need to mount real volumes on loop devices: losetup and mount
# (util-linux, mount), mkfs.ext4 (e2fsprogs), mkfs.xfs (xfsprogs) and
# mkfs.btrfs (btrfs-progs); redis-cli and redis-benchmark (redis-tools)
# for the Redis-protocol tests; and fusermount3 (fuse3) and sqlite3 for the
# faultfs FUSE mount tests (vfs/faultfs/fusefs), which mount the model and
# run the real sqlite3 CLI on it.
#
# It is idempotent: nothing is installed, and apt-get update is not run, when
# every tool is already on PATH. When not root it prints what is missing and
# exits 0, so the tests that need those tools skip visibly instead.
set -euo pipefail

# tool:package pairs. A tool is looked up in PATH and in the sbin
# directories, which are not on every user's PATH.
pairs=(
	"losetup:util-linux"
	"mount:mount"
	"umount:mount"
	"mkfs.ext4:e2fsprogs"
	"mkfs.xfs:xfsprogs"
	"mkfs.btrfs:btrfs-progs"
	"redis-cli:redis-tools"
	"redis-benchmark:redis-tools"
	"fusermount3:fuse3"
	"sqlite3:sqlite3"
)

have() {
	command -v "$1" >/dev/null 2>&1 && return 0
	local d
	for d in /usr/sbin /sbin /usr/local/sbin; do
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
		# Add each package once.
		if [[ " ${missing_pkgs[*]-} " != *" $pkg "* ]]; then
			missing_pkgs+=("$pkg")
		fi
	fi
done

if [[ ${#missing_pkgs[@]} -eq 0 ]]; then
	echo "install-test-deps: all tools present (${pairs[*]%%:*})"
	exit 0
fi

echo "install-test-deps: missing tools: ${missing_tools[*]} (packages: ${missing_pkgs[*]})"

if [[ $(id -u) -ne 0 ]]; then
	echo "install-test-deps: not root; cannot install ${missing_pkgs[*]}." >&2
	echo "install-test-deps: tests that need ${missing_tools[*]} will skip." >&2
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-deps: apt-get not found; install ${missing_pkgs[*]} by hand." >&2
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"

for tool in "${missing_tools[@]}"; do
	if ! have "$tool"; then
		echo "install-test-deps: $tool still missing after install" >&2
		exit 1
	fi
done
echo "install-test-deps: installed ${missing_pkgs[*]}"
