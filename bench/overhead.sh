#!/usr/bin/env bash
# Overhead of Continuum against going direct and against nginx proxy_pass,
# measured in one run on one machine, against the same simulated backend
# (`continuum mock`, answering at once). See docs/performance.md.
#
#   bench/overhead.sh                # defaults: 3 rounds of 8 s per cell
#   ROUNDS=5 DURATION=10s bench/overhead.sh
#   WORKERS=2 bench/overhead.sh      # adds a column: Continuum with server.workers: 2
#
# Needs: wrk (non-streaming load), python3 (reads the bench JSON), nginx
# (its column is skipped with a message if absent).
# Streaming and memory use `continuum bench`. Results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
STREAMS=${STREAMS:-1000}
BIN=${BIN:-bin/continuum}
OUT=${OUT:-bench/results}
BASE_PORT=${BASE_PORT:-19100}
BACKEND=127.0.0.1:$((BASE_PORT + 1))
ROUTER=127.0.0.1:$((BASE_PORT + 2))
NGINX=127.0.0.1:$((BASE_PORT + 3))
SLOW_BACKEND=127.0.0.1:$((BASE_PORT + 4))
SLOW_ROUTER=127.0.0.1:$((BASE_PORT + 5))
ROUTER_W=127.0.0.1:$((BASE_PORT + 6))
WORKERS=${WORKERS:-}

[ -x "$BIN" ] || { echo "building $BIN"; CGO_ENABLED=0 go build -trimpath -o "$BIN" ./cmd/continuum; }
command -v wrk >/dev/null || { echo "wrk is required (apt-get install -y wrk)"; exit 1; }
HAVE_NGINX=1
command -v nginx >/dev/null || { HAVE_NGINX=0; echo "nginx not found: the nginx column is skipped (apt-get install -y nginx)"; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid" 2>/dev/null)" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() { # wait until something answers on $1
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://$1/health" && return 0
		sleep 0.1
	done
	echo "nothing listening on $1"; exit 1
}

# The backend: answers at once, 16 tokens.
"$BIN" mock --listen "$BACKEND" --models bench-model --tokens 16 >/dev/null &
PIDS+=($!)

cat >"$WORK/config.yaml" <<EOF
server:
  bind_address: "$ROUTER"
health_checks:
  enabled: false
logging:
  level: warn          # no access log line per request (nginx runs with access_log off too)
backends:
  - name: mock
    url: http://$BACKEND
    models: [bench-model]
EOF
"$BIN" serve -c "$WORK/config.yaml" --no-watch 2>"$WORK/router.log" &
ROUTER_PID=$!
PIDS+=($ROUTER_PID)

# The multi-process mode: the same configuration with server.workers.
if [ -n "$WORKERS" ]; then
	sed -e "s/$ROUTER/$ROUTER_W/" -e "s/^server:/server:\n  workers: $WORKERS/" "$WORK/config.yaml" >"$WORK/workers.yaml"
	"$BIN" serve -c "$WORK/workers.yaml" --no-watch 2>"$WORK/workers.log" &
	PIDS+=($!)
fi

if [ "$HAVE_NGINX" = 1 ]; then
	cat >"$WORK/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream backend { server $BACKEND; keepalive 256; }
  server {
    listen $NGINX;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
	nginx -c "$WORK/nginx.conf" &
	PIDS+=($!)
fi

wait_port "$BACKEND"; wait_port "$ROUTER"
[ -n "$WORKERS" ] && wait_port "$ROUTER_W"
[ "$HAVE_NGINX" = 1 ] && wait_port "$NGINX"

BODY='{"model":"bench-model","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}'
cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
EOF

TARGETS=(direct continuum)
[ -n "$WORKERS" ] && TARGETS+=("continuum-w$WORKERS")
[ "$HAVE_NGINX" = 1 ] && TARGETS+=(nginx)
addr() { case $1 in direct) echo "$BACKEND" ;; continuum) echo "$ROUTER" ;; continuum-w*) echo "$ROUTER_W" ;; nginx) echo "$NGINX" ;; esac; }

# wrk_cell TARGET CONNS → "rps p50_us p99_us"
wrk_cell() {
	local out
	out=$(wrk -t1 -c"$2" -d"$DURATION" --latency -s "$WORK/post.lua" "http://$(addr "$1")/v1/chat/completions")
	if echo "$out" | grep -q "Non-2xx"; then echo "error: non-2xx answers from $1" >&2; echo "$out" >&2; exit 1; fi
	echo "$out" | awk '
		function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return v*1000; if (v ~ /s$/) return v*1000000; return v }
		/Requests\/sec/ { rps = $2 }
		$1 == "50%" { p50 = us($2) }
		$1 == "99%" { p99 = us($2) }
		END { printf "%.0f %.1f %.1f\n", rps, p50, p99 }'
}

# stream_cell TARGET CONNS → "rps ttft_p50_us ttft_p99_us"
stream_cell() {
	"$BIN" bench --url "http://$(addr "$1")" --model bench-model --stream --max-tokens 16 \
		--concurrency "$2" --duration "$DURATION" --quiet --json "$WORK/s.json" >/dev/null
	python3 - "$WORK/s.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def q(d, p):
    for x in d["percentiles"]:
        if abs(x["quantile"] - p) < 1e-9:
            return x["value_ns"] / 1000
    return float("nan")
print("%.0f %.1f %.1f" % (r["totals"]["throughput"], q(r["ttft"], 0.5), q(r["ttft"], 0.99)))
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A R
for round in $(seq 1 "$ROUNDS"); do
	for kind in chat stream; do
		for conns in 1 32; do
			for t in "${TARGETS[@]}"; do
				if [ "$kind" = chat ]; then cell=$(wrk_cell "$t" "$conns"); else cell=$(stream_cell "$t" "$conns"); fi
				R["$kind,$conns,$t,$round"]=$cell
				echo "round $round $kind c$conns $t: $cell" >&2
			done
		done
	done
done

col() { # col KIND CONNS TARGET FIELD → median over rounds
	for round in $(seq 1 "$ROUNDS"); do echo "${R["$1,$2,$3,$round"]}" | awk -v f="$4" '{print $f}'; done | median
}

# Resident memory with many concurrent slow streams (each 50 tokens, 200 ms apart).
"$BIN" mock --listen "$SLOW_BACKEND" --models bench-model --tokens 50 --token-delay 200ms >/dev/null &
PIDS+=($!)
sed -e "s/$ROUTER/$SLOW_ROUTER/" -e "s/$BACKEND/$SLOW_BACKEND/" "$WORK/config.yaml" >"$WORK/slow.yaml"
sed -i 's/^server:/server:\n  max_concurrent_requests: 0/' "$WORK/slow.yaml"
"$BIN" serve -c "$WORK/slow.yaml" --no-watch 2>"$WORK/slow.log" &
SLOW_PID=$!
PIDS+=($SLOW_PID)
wait_port "$SLOW_BACKEND"; wait_port "$SLOW_ROUTER"
"$BIN" bench --url "http://$SLOW_ROUTER" --model bench-model --stream --max-tokens 50 \
	--concurrency "$STREAMS" --duration 15s --timeout 60s --quiet --json "$WORK/slow.json" >/dev/null &
BENCH_PID=$!
PEAK=0
while kill -0 "$BENCH_PID" 2>/dev/null; do
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$SLOW_PID/status")
	[ "$rss" -gt "$PEAK" ] && PEAK=$rss
	sleep 0.5
done
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$SLOW_PID/status")
STREAM_OK=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["totals"]["succeeded"])' "$WORK/slow.json" 2>/dev/null || echo "?")

mkdir -p "$OUT"
REPORT="$OUT/overhead-$(date -u +%Y%m%dT%H%M%SZ).md"
{
	echo "# Continuum overhead — $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)."
	echo "Continuum $("$BIN" version). $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)."
	[ "$HAVE_NGINX" = 1 ] && echo "$(nginx -v 2>&1)."
	echo "Medians of $ROUNDS rounds of $DURATION per cell; targets alternate within each round."
	[ -n "$WORKERS" ] && echo "continuum-w$WORKERS: the same configuration with server.workers: $WORKERS."
	echo
	echo "| load | target | req/s | p50 latency | p99 latency | added p50 vs direct |"
	echo "|---|---|---:|---:|---:|---:|"
	for kind in chat stream; do
		for conns in 1 32; do
			d50=$(col "$kind" "$conns" direct 2)
			for t in "${TARGETS[@]}"; do
				rps=$(col "$kind" "$conns" "$t" 1); p50=$(col "$kind" "$conns" "$t" 2); p99=$(col "$kind" "$conns" "$t" 3)
				label="$kind, $conns conn"; [ "$kind" = stream ] && label="stream (TTFT), $conns conn"
				added=$(awk -v a="$p50" -v b="$d50" 'BEGIN {printf "%+.0f µs", a-b}')
				echo "| $label | $t | $rps | ${p50} µs | ${p99} µs | $added |"
			done
		done
	done
	echo
	echo "Ratios (throughput):"
	echo
	for kind in chat stream; do
		for conns in 1 32; do
			c=$(col "$kind" "$conns" continuum 1); d=$(col "$kind" "$conns" direct 1)
			line="- $kind, $conns conn: continuum/direct $(awk -v a="$c" -v b="$d" 'BEGIN {printf "%.2f", a/b}')"
			if [ "$HAVE_NGINX" = 1 ]; then
				n=$(col "$kind" "$conns" nginx 1)
				line="$line, continuum/nginx $(awk -v a="$c" -v b="$n" 'BEGIN {printf "%.2f", a/b}'), nginx/direct $(awk -v a="$n" -v b="$d" 'BEGIN {printf "%.2f", a/b}')"
			fi
			if [ -n "$WORKERS" ]; then
				w=$(col "$kind" "$conns" "continuum-w$WORKERS" 1)
				line="$line, continuum-w$WORKERS/continuum $(awk -v a="$w" -v b="$c" 'BEGIN {printf "%.2f", a/b}')"
				[ "$HAVE_NGINX" = 1 ] && line="$line, continuum-w$WORKERS/nginx $(awk -v a="$w" -v b="$n" 'BEGIN {printf "%.2f", a/b}')"
			fi
			echo "$line"
		done
	done
	echo
	echo "Memory: $STREAMS concurrent slow streams (50 tokens, 200 ms apart) through Continuum:" \
		"peak resident $((PEAK / 1024)) MiB sampled, VmHWM $((HWM / 1024)) MiB; $STREAM_OK streams completed."
	echo
	# One line with every target of DESIGN.md §6 and issue 12, for logs and CI.
	d1=$(col chat 1 direct 2); c1=$(col chat 1 continuum 2)
	dt=$(col stream 1 direct 3); ct=$(col stream 1 continuum 3)
	diff() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.0f", a-b}'; }
	if [ "$HAVE_NGINX" = 1 ]; then
		n1=$(col chat 1 nginx 2); nt=$(col stream 1 nginx 3)
		c32=$(col chat 32 continuum 1); n32=$(col chat 32 nginx 1)
		line="summary: chat throughput at 32 conn continuum/nginx $(awk -v a="$c32" -v b="$n32" 'BEGIN {printf "%.2f", a/b}') (goal >= 1.0)"
		line="$line; added p50 at 1 conn continuum $(diff "$c1" "$d1") µs, nginx $(diff "$n1" "$d1") µs (goal <= 60)"
		line="$line; added TTFT p99 at 1 conn continuum $(diff "$ct" "$dt") µs, nginx $(diff "$nt" "$dt") µs (goal: <= nginx)"
	else
		line="summary: added p50 at 1 conn continuum $(diff "$c1" "$d1") µs (goal <= 60)"
		line="$line; added TTFT p99 at 1 conn continuum $(diff "$ct" "$dt") µs"
	fi
	echo "$line; $STREAMS streams VmHWM $((HWM / 1024)) MiB (goal <= 100)"
} | tee "$REPORT"
echo >&2
echo "written to $REPORT" >&2
