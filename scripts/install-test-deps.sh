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
source "$(dirname "$0")/apt-tools.sh"

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

install_tools install-test-deps "${pairs[@]}"
