#!/usr/bin/env bash
# Soak test (not a CI test): makes a network namespace, queues UDP to 127.0.0.1:9999 in it,
# and runs scripts/soak.mjs there: N packets (default 10 million) through the built library,
# resident memory sampled every second into OUT/rss.csv, summary in OUT/summary.json.
#   sudo scripts/soak.sh [PACKETS] [OUT_DIR] [MAX_MINUTES]
# Needs root, iproute2, iptables-legacy, and `npm run build` done.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKETS=${1:-10000000}
OUT=${2:-/tmp/nfq-soak-$(date +%Y%m%d-%H%M%S)}
MAX_MIN=${3:-25}
NS=nfqsoak-$$
[ -f dist/index.js ] || { echo "soak.sh: run npm run build first" >&2; exit 1; }
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" iptables-legacy -A OUTPUT -o lo -p udp --dport 9999 -j NFQUEUE --queue-num 0
ip netns exec "$NS" node scripts/soak.mjs --packets "$PACKETS" --queue 0 --port 9999 --out "$OUT" --max-minutes "$MAX_MIN"
echo "kernel: $(ip netns exec "$NS" iptables-legacy -L OUTPUT -v -x -n | awk '/NFQUEUE/ {print $1 " packets hit the NFQUEUE rule"}')"
