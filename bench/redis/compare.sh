#!/usr/bin/env bash
# compare.sh runs redis-benchmark against holdfast (sync=always: every SET and
# INCR is on stable storage before its reply) and against a local redis-server
# with appendonly yes and appendfsync always (the same promise), in the same
# run, alternating between them round by round, on the same file system. It
# prints ops/s and p50/p99 latency of SET, GET and INCR for both, per round,
# and the median over rounds with the ratio holdfast/redis.
#
# Usage (from the repository root):
#   bash bench/redis/compare.sh                     # defaults below
#   ROUNDS=5 REQUESTS=50000 CLIENTS="50 256" bash bench/redis/compare.sh
#   PIPELINE=16 CLIENTS=10 TESTS=set bash bench/redis/compare.sh   # pipelined writes
#
# Needs redis-server and redis-benchmark (Debian: redis-server, redis-tools)
# and Go. Data directories go under BENCH_DIR (default: a fresh directory in
# ./.bench-tmp, on the repository's file system, not /tmp, which may be
# tmpfs); they are removed at the end.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-20000}
CLIENTS=${CLIENTS:-"50 256"}
TESTS=${TESTS:-set,get,incr}
KEYSPACE=${KEYSPACE:-100000}
PIPELINE=${PIPELINE:-1} # redis-benchmark -P: commands a client pipelines
HF_PORT=${HF_PORT:-16380}
HF_HTTP=${HF_HTTP:-17070}
REDIS_PORT=${REDIS_PORT:-16379}

for tool in redis-server redis-benchmark go; do
	command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 2; }
done

root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$root/.bench-tmp"
work=${BENCH_DIR:-$(mktemp -d "$root/.bench-tmp/compare.XXXXXX")}
mkdir -p "$work/holdfast" "$work/redis"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/holdfast-bin" ./cmd/holdfast)
"$work/holdfast-bin" serve --data "$work/holdfast" --resp "127.0.0.1:$HF_PORT" --http "127.0.0.1:$HF_HTTP" \
	--log-level warn 2>"$work/holdfast.log" &
pids+=($!)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$work/redis" --save "" \
	--appendonly yes --appendfsync always --daemonize no --logfile "$work/redis.log" &
pids+=($!)

wait_up() { # port
	for _ in $(seq 1 100); do
		redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "compare.sh: nothing answers on port $1" >&2
	exit 1
}
wait_up "$HF_PORT"
wait_up "$REDIS_PORT"

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs; holdfast $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo '?'), redis $(redis-server --version | awk '{print $3}' | sed 's/^v=//')"
echo "# redis-benchmark -t $TESTS -n $REQUESTS -r $KEYSPACE -P $PIPELINE, clients: $CLIENTS, rounds: $ROUNDS (alternating)"
results="$work/results.csv" # server,clients,test,rps,p50,p99
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
	for c in $CLIENTS; do
		# Alternate which server goes first, so neither always gets the
		# warmer page cache or the quieter neighbour.
		if ((round % 2)); then order="holdfast redis"; else order="redis holdfast"; fi
		for server in $order; do
			port=$HF_PORT
			[[ $server == redis ]] && port=$REDIS_PORT
			# CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
			redis-benchmark -p "$port" -t "$TESTS" -n "$REQUESTS" -c "$c" -r "$KEYSPACE" -P "$PIPELINE" --csv 2>/dev/null |
				tr -d '"' | awk -F, -v s="$server" -v c="$c" -v r="$round" \
				'NR > 1 { printf "%s,%s,%s,%s,%s,%s\n", s, c, $1, $2, $5, $7; printf "round %d  -c %-4s %-8s %-5s %10.0f ops/s  p50 %7.3f ms  p99 %7.3f ms\n", r, c, s, $1, $2, $5, $7 > "/dev/stderr" }' >>"$results"
		done
	done
done

echo
echo "median over $ROUNDS rounds (ratio = holdfast / redis ops/s; latency ratio = holdfast / redis):"
printf '%-6s %-5s %12s %12s %7s   %18s %18s\n' clients test "holdfast/s" "redis/s" ratio "p50 hf / redis ms" "p99 hf / redis ms"
for c in $CLIENTS; do
	for t in $(echo "$TESTS" | tr a-z, A-Z' '); do
		med() { # server column
			awk -F, -v s="$1" -v c="$c" -v t="$t" -v col="$2" '$1 == s && $2 == c && $3 == t { print $col }' "$results" |
				sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
		}
		hr=$(med holdfast 4) rr=$(med redis 4)
		hp50=$(med holdfast 5) rp50=$(med redis 5) hp99=$(med holdfast 6) rp99=$(med redis 6)
		awk -v c="$c" -v t="$t" -v hr="$hr" -v rr="$rr" -v hp50="$hp50" -v rp50="$rp50" -v hp99="$hp99" -v rp99="$rp99" \
			'BEGIN { printf "%-6s %-5s %12.0f %12.0f %6.2fx   %8.3f / %-8.3f %8.3f / %-8.3f\n", c, t, hr, rr, (rr > 0 ? hr / rr : 0), hp50, rp50, hp99, rp99 }'
	done
done
