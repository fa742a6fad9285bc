#!/usr/bin/env bash
# CPU time per request of the router processes, alternating two router
# binaries against the same backend, medians over ROUNDS. This is how the
# optimisations in docs/performance.md were compared: CPU time is far less
# sensitive to other load on a shared machine than throughput.
#
#   bench/cpu-per-request.sh OLD_BINARY NEW_BINARY      (ROUNDS=5 DURATION=5s)
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2
ROUNDS=${ROUNDS:-5}; DURATION=${DURATION:-5s}
BACKEND=127.0.0.1:19201; ROUTER=127.0.0.1:19202
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$A" mock --listen "$BACKEND" --models bench-model --tokens 16 >/dev/null &
cat >"$WORK/config.yaml" <<YAML
server: { bind_address: "$ROUTER" }
health_checks: { enabled: false }
logging: { level: warn }
backends: [ { name: mock, url: "http://$BACKEND", models: [bench-model] } ]
YAML
cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"bench-model","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"
LUA
tick=$(getconf CLK_TCK)
measure() { # binary -> "rps cpu_us"
	"$1" serve -c "$WORK/config.yaml" --no-watch 2>/dev/null &
	local pid=$!
	for _ in $(seq 1 50); do curl -s -o /dev/null "http://$ROUTER/health" && break; sleep 0.1; done
	local before after out reqs
	before=$(awk '{print $14+$15}' "/proc/$pid/stat")
	out=$(wrk -t1 -c32 -d"$DURATION" -s "$WORK/post.lua" "http://$ROUTER/v1/chat/completions")
	after=$(awk '{print $14+$15}' "/proc/$pid/stat")
	kill "$pid"; wait "$pid" 2>/dev/null || true
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(( (after - before) * 1000000 / tick / reqs ))"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for i in $(seq 1 "$ROUNDS"); do
	echo "A $(measure "$A")" >>"$WORK/r"; echo "B $(measure "$B")" >>"$WORK/r"
done
for v in A B; do
	bin=$([ $v = A ] && echo "$A" || echo "$B")
	echo "$v $bin: $(awk -v v=$v '$1==v {print $2}' "$WORK/r" | median) req/s, $(awk -v v=$v '$1==v {print $3}' "$WORK/r" | median) CPU-µs/request"
done
