#!/usr/bin/env bash
# npm run demo: nfq-dump on live traffic in a throwaway network namespace (about 15 s).
#
#   1. makes a network namespace with NFQUEUE rules (nothing changes outside it),
#   2. runs nfq-dump on queue 0, accepting with mark 0x2a, while UDP, TCP and ICMP over
#      IPv4 and IPv6 go through it (writing a pcap and a netlink recording on the way),
#   3. runs nfq-dump on queue 1 with --verdict drop and shows the datagrams never arrive,
#   4. replays the recording without privileges,
#   5. removes the namespace, also on Ctrl-C or failure.
#
# Needs root (network namespaces and netfilter), iproute2 and iptables-legacy.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
NFQ=(node "$ROOT/dist/cli/nfq-dump.js")
TRAFFIC=(node "$ROOT/scripts/demo-traffic.mjs")
NS="nfqdemo-$$"
OUT=$(mktemp -d /tmp/nfq-dump-demo.XXXXXX)
# mktemp makes the directory 0700: open it (and, below, the files) to every user, so the
# recording can be replayed without privileges, as step 4 says.
chmod 755 "$OUT"
PIDS=()

if [ -t 1 ]; then B=$'\e[1m'; D=$'\e[2m'; G=$'\e[32m'; R=$'\e[31m'; N=$'\e[0m'; else B=; D=; G=; R=; N=; fi
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
show() { printf '%s$ %s%s\n' "$D" "$*" "$N"; }
die() { printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2; exit 1; }

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  # nfq-dump instances still running: a Ctrl-C on the terminal already reached them (they
  # are winding down: a second SIGINT would make them quit at once), so give them a moment,
  # then ask the others to stop, and only then force it.
  for pid in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if ip netns list 2>/dev/null | grep -qw "^$NS"; then
    ip netns del "$NS" && printf '\n%sremoved network namespace %s%s\n' "$D" "$NS" "$N"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'printf "\ninterrupted\n"; exit 130' INT TERM

# ------------------------------------------------------------------ checks
[ "$(id -u)" = 0 ] || die "run me as root (network namespaces and netfilter need it): sudo npm run demo"
command -v ip >/dev/null || die "iproute2 ('ip') is missing: apt-get install -y iproute2"
command -v iptables-legacy >/dev/null || die "iptables-legacy is missing: apt-get install -y iptables"
if [ ! -f "$ROOT/dist/cli/nfq-dump.js" ] || [ -n "$(find "$ROOT/src" -newer "$ROOT/dist/cli/nfq-dump.js" -name '*.ts' -print -quit)" ]; then
  echo "building (npm run build)..."
  npm run --silent build >/dev/null || die "npm run build failed"
fi

# (Background jobs are started with `ip netns exec` directly, not through in_ns, so that $!
# is the pid of nfq-dump itself: `ip netns exec` execs the command in place.)
in_ns() { ip netns exec "$NS" "$@"; }
wait_bound() { # queue number
  for _ in $(seq 1 50); do
    in_ns awk -v q="$1" '$1 == q { found = 1 } END { exit !found }' /proc/net/netfilter/nfnetlink_queue 2>/dev/null && return 0
    sleep 0.1
  done
  die "nfq-dump did not bind queue $1"
}

# ------------------------------------------------------------------ 1. namespace and rules
step "1. A throwaway network namespace, $NS, with NFQUEUE rules"
ip netns add "$NS"
ip -n "$NS" link set lo up
RULES4=(
  "-t mangle -A OUTPUT -p icmp -j MARK --set-mark 0x7"
  "-A OUTPUT -p udp --dport 7000 -j NFQUEUE --queue-num 0"
  "-A OUTPUT -p udp --dport 7999 -j NFQUEUE --queue-num 0"
  "-A OUTPUT -p tcp --dport 8080 -j NFQUEUE --queue-num 0"
  "-A OUTPUT -p tcp --sport 8080 -j NFQUEUE --queue-num 0"
  "-A OUTPUT -p icmp -j NFQUEUE --queue-num 0"
  "-A OUTPUT -p udp --dport 9 -j NFQUEUE --queue-num 1"
  "-t mangle -A POSTROUTING -m mark --mark 0x2a"
)
RULES6=(
  "-A OUTPUT -p udp --dport 7000 -j NFQUEUE --queue-num 0"
  "-A OUTPUT -p tcp --dport 8080 -j NFQUEUE --queue-num 0"
  "-A OUTPUT -p tcp --sport 8080 -j NFQUEUE --queue-num 0"
  "-A OUTPUT -p ipv6-icmp -j NFQUEUE --queue-num 0"
  "-t mangle -A POSTROUTING -m mark --mark 0x2a"
)
for r in "${RULES4[@]}"; do show "iptables $r"; read -ra a <<<"$r"; in_ns iptables-legacy -w "${a[@]}"; done
for r in "${RULES6[@]}"; do show "ip6tables $r"; read -ra a <<<"$r"; in_ns ip6tables-legacy -w "${a[@]}"; done

# ------------------------------------------------------------------ 2. live dump
step "2. nfq-dump on queue 0: accept every packet and set mark 0x2a"
printf '%s(nfq-dump is node dist/cli/nfq-dump.js, run inside the namespace with ip netns exec %s)%s\n' "$D" "$NS" "$N"
show "nfq-dump -q 0 --mark 0x2a -w $OUT/packets.pcap --record $OUT/netlink.pcap"
ip netns exec "$NS" "${NFQ[@]}" -q 0 --mark 0x2a -w "$OUT/packets.pcap" --record "$OUT/netlink.pcap" &
DUMP=$!
PIDS+=("$DUMP")
wait_bound 0
in_ns "${TRAFFIC[@]}" mix
sleep 0.3
kill -INT "$DUMP"
wait "$DUMP" || die "nfq-dump failed"
MARKED=$( { in_ns iptables-legacy -w -t mangle -L POSTROUTING -v -x -n; in_ns ip6tables-legacy -w -t mangle -L POSTROUTING -v -x -n; } | awk '/mark match 0x2a/ { n += $1 } END { print n + 0 }')
printf '%s%s packets went on carrying mark 0x2a%s (counted in mangle POSTROUTING by: iptables -m mark --mark 0x2a)\n' "$G" "$MARKED" "$N"

# ------------------------------------------------------------------ 3. drop
step "3. nfq-dump on queue 1: drop (exits after 3 packets with -c 3)"
show "nfq-dump -q 1 --verdict drop -c 3"
ip netns exec "$NS" "${NFQ[@]}" -q 1 --verdict drop -c 3 &
DUMP=$!
PIDS+=("$DUMP")
wait_bound 1
in_ns "${TRAFFIC[@]}" drop
wait "$DUMP" || die "nfq-dump failed"

# ------------------------------------------------------------------ 4. replay
step "4. Replaying the recorded netlink conversation (no privileges needed)"
chmod a+r "$OUT/packets.pcap" "$OUT/netlink.pcap"
# Replay as nobody, without any capability, when nobody can read this checkout.
AS=()
WHO=""
if command -v setpriv >/dev/null && setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$ROOT/dist/cli/nfq-dump.js" 2>/dev/null; then
  AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all)
  WHO=" (as user nobody)"
fi
show "nfq-dump -r $OUT/netlink.pcap -c 4$WHO"
"${AS[@]}" "${NFQ[@]}" -r "$OUT/netlink.pcap" -c 4
show "nfq-dump -r $OUT/netlink.pcap --json -c 1$WHO"
"${AS[@]}" "${NFQ[@]}" -r "$OUT/netlink.pcap" --json -c 1 2>/dev/null
if command -v tshark >/dev/null; then
  show "tshark -r $OUT/packets.pcap -c 4"
  tshark -r "$OUT/packets.pcap" -c 4 2>/dev/null || true
fi

printf '\n%sDone.%s The capture files stay in %s (readable by every user):\n' "$B" "$N" "$OUT"
printf '  packets.pcap  the queued packets (LINKTYPE_RAW): wireshark %s/packets.pcap\n' "$OUT"
printf '  netlink.pcap  the netlink conversation: node dist/cli/nfq-dump.js -r %s/netlink.pcap\n' "$OUT"
