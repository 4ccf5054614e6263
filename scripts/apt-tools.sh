# apt-tools.sh is sourced by the install-*-deps.sh scripts. It defines
# install_tools NAME PAIR...: each PAIR is tool:package, where tool is a
# command looked up in PATH and the sbin directories, or an absolute path
# that must exist. Missing packages are installed with apt-get, once each.
#
# Idempotent: nothing is installed, and apt-get update is not run, when
# every tool is present. When not root, or without apt-get, it prints what
# is missing and returns 0, so whatever needs those tools skips visibly.
# It fails only when an install did not provide a tool.

have_tool() {
	case "$1" in
	/*) [[ -e "$1" ]] && return 0 ;;
	*) command -v "$1" >/dev/null 2>&1 && return 0 ;;
	esac
	local d
	for d in /usr/sbin /sbin /usr/local/sbin /usr/bin; do
		[[ -x "$d/$1" ]] && return 0
	done
	return 1
}

install_tools() {
	local name=$1
	shift
	local pair tool pkg
	local -a missing_pkgs=() missing_tools=() all_tools=()
	for pair in "$@"; do
		tool=${pair%%:*}
		pkg=${pair#*:}
		all_tools+=("$tool")
		if ! have_tool "$tool"; then
			missing_tools+=("$tool")
			if [[ " ${missing_pkgs[*]-} " != *" $pkg "* ]]; then
				missing_pkgs+=("$pkg")
			fi
		fi
	done
	if [[ ${#missing_pkgs[@]} -eq 0 ]]; then
		echo "$name: all tools present (${all_tools[*]})"
		return 0
	fi
	echo "$name: missing tools: ${missing_tools[*]} (packages: ${missing_pkgs[*]})"
	if [[ $(id -u) -ne 0 ]]; then
		echo "$name: not root; cannot install ${missing_pkgs[*]}; what needs ${missing_tools[*]} will skip." >&2
		return 0
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "$name: apt-get not found; install ${missing_pkgs[*]} by hand." >&2
		return 0
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# --no-install-recommends: only what is named; Debian packages that
	# ship a service (redis-server, etcd-server, postgresql) are started by
	# the tests and benchmarks themselves, on loopback ports of their own.
	apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"
	for tool in "${missing_tools[@]}"; do
		if ! have_tool "$tool"; then
			echo "$name: $tool still missing after install" >&2
			return 1
		fi
	done
	echo "$name: installed ${missing_pkgs[*]}"
}
