#!/usr/bin/env bash
# The package as a user gets it: `npm pack`, installed into an empty project with
# --ignore-scripts (what npm 12 does by default), then used from there:
#   1. the tarball: prebuilt addons in, TypeScript sources out, source maps self-contained;
#   2. the native transport loads from the prebuilds, with no install script and no compile;
#   3. tsc (TypeScript 5 and 7) type-checks a strict example, module nodenext and bundler;
#   4. `import` and `require` both work;
#   5. the README's library example runs in a network namespace with traffic;
#   6. a 5 s flood over the forced fallback socket (the `netlink` package) leaves it alive.
# Run by .ci/run after `npm test` (dist/ built). Needs root, iproute2, iptables-legacy.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d /tmp/nfq-consumer.XXXXXX)"
ns="nfqcons$$"
# shellcheck source=scripts/netns-check-lib.sh
source "$root/scripts/netns-check-lib.sh"
step() { printf '\n--- %s\n' "$*"; }
fail() {
  echo "consumer-check: FAILED: $*" >&2
  exit 1
}
queue_row() { in_ns awk -v q="$1" '$1 == q' /proc/net/netfilter/nfnetlink_queue; }

step "npm pack"
cd "$root"
npm pack --pack-destination "$work" --json >"$work/pack.json"
tarball="$work/$(node -p "require('$work/pack.json')[0].filename")"
node -e "
  const [p] = require('$work/pack.json');
  const files = p.files.map((f) => f.path);
  console.log('tarball: ' + p.filename + ': ' + p.size + ' bytes packed, ' + p.unpackedSize + ' unpacked, ' + files.length + ' files');
  for (const f of files.filter((f) => f.startsWith('prebuilds/'))) console.log('  ' + f + ' ' + p.files.find((x) => x.path === f).size + ' bytes');
  const need = ['x64', 'arm64', 'arm'].flatMap((a) => ['glibc', 'musl'].map((l) => 'prebuilds/linux-' + a + '/nfq_native.' + l + '.node'));
  need.push('dist/index.js', 'dist/index.d.ts', 'native/nfq_native.c', 'native/batch_layout.h', 'binding.gyp');
  if (p.size >= 1 << 20) { console.error('the tarball is ' + p.size + ' bytes, over 1 MiB'); process.exit(1); }
  const missing = need.filter((f) => !files.includes(f));
  const sources = files.filter((f) => /\.ts$/.test(f) && !/\.d\.ts$/.test(f));
  if (missing.length || sources.length) { console.error('missing: ' + missing.join(', ') + '; TypeScript sources: ' + sources.join(', ')); process.exit(1); }
"
tar -xzf "$tarball" -C "$work" package/dist
node -e "
  const fs = require('fs'), path = require('path');
  const maps = fs.readdirSync('$work/package/dist', { recursive: true }).filter((f) => f.endsWith('.js.map'));
  const bad = maps.filter((f) => { const m = JSON.parse(fs.readFileSync(path.join('$work/package/dist', f), 'utf8')); return !Array.isArray(m.sourcesContent) || m.sourcesContent.some((s) => typeof s !== 'string'); });
  if (maps.length === 0 || bad.length) { console.error('source maps without sourcesContent: ' + bad.join(', ')); process.exit(1); }
  console.log(maps.length + ' source maps, each carrying its sources');
"

step "install into an empty project (--ignore-scripts)"
app="$work/app"
mkdir "$app"
cd "$app"
echo '{ "name": "nfq-consumer", "private": true, "type": "module" }' >package.json
npm install --ignore-scripts --no-audit --no-fund "$tarball" ts5@npm:typescript@^5 ts7@npm:typescript@^7 2>&1 | tee "$work/install.log"
[ -e node_modules/netfilter-queue/build ] && fail "something compiled the addon at install"
node -p "'@types/node at the top level: ' + require('./node_modules/@types/node/package.json').version"
node -e "if (Number(require('./node_modules/@types/node/package.json').version.split('.')[0]) < 20) process.exit(1)" ||
  fail "an old @types/node is at the top level"

step "the native transport loads from the prebuilds"
cat >native.mjs <<'EOF'
import { readFileSync } from 'node:fs';
import { openNativeTransport, nativeTransportUnavailable } from 'netfilter-queue/netlink';
const why = nativeTransportUnavailable();
if (why !== undefined) throw new Error(why);
const t = openNativeTransport(12);
// The addon this process mapped, as the kernel shows it.
const addon = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/)[5] ?? '').find((p) => p.endsWith('.node'));
console.log(JSON.stringify({ kind: t.kind, addon }));
t.close();
EOF
node native.mjs | tee "$work/native.out"
grep -q '"kind":"native","addon":"[^"]*/node_modules/netfilter-queue/prebuilds/linux-' "$work/native.out" || fail "native transport not loaded from the prebuilds"

step "TypeScript 5 and 7, strict, nodenext and bundler"
cat >example.ts <<'EOF'
import { openQueue, accept, drop, QueueKernelError, type Packet, type Queue, type Verdict } from 'netfilter-queue';
import { fixChecksums } from 'netfilter-queue/packet';
import * as testing from 'netfilter-queue/testing';

function decide(packet: Packet): Verdict | 'drop' {
  const payload: Uint8Array | undefined = packet.payload;
  if (payload === undefined) return 'drop';
  const mark: number = packet.mark ?? 0;
  if (packet.family === 2 && payload.byteLength > 20) return accept({ mark: mark | 0x10 });
  return drop();
}

export async function run(): Promise<Queue> {
  try {
    const queue = await openQueue(0, decide, { copyRange: 256, maxLen: 1024, flags: { failOpen: true } });
    queue.on('error', (err: Error) => console.error(err.message));
    return queue;
  } catch (e) {
    if (e instanceof QueueKernelError) console.error(e.code, e.step);
    throw e;
  }
}
export const rewrite = (p: Uint8Array): Uint8Array => fixChecksums(p);
export const kit: object = testing;
EOF
for mode in nodenext bundler; do
  if [ "$mode" = nodenext ]; then module=nodenext; else module=preserve; fi
  cat >"tsconfig.$mode.json" <<EOF
{ "compilerOptions": { "strict": true, "noEmit": true, "target": "es2022", "module": "$module", "moduleResolution": "$mode", "skipLibCheck": false }, "files": ["example.ts"] }
EOF
  for ts in ts5 ts7; do
    echo "$(node_modules/$ts/bin/tsc --version) --moduleResolution $mode"
    node_modules/$ts/bin/tsc -p "tsconfig.$mode.json"
  done
done

step "import and require"
node --input-type=module -e "import { openQueue, accept } from 'netfilter-queue'; console.log('import:', typeof openQueue, typeof accept)"
echo "const { openQueue, accept } = require('netfilter-queue'); console.log('require:', typeof openQueue, typeof accept);" >require.cjs
node require.cjs | tee "$work/require.out"
grep -q 'require: function function' "$work/require.out" || fail "require('netfilter-queue') did not give the API"
# Every subpath of the exports map, both ways.
node -e "
  const pkg = require('netfilter-queue/package.json');
  const names = Object.keys(pkg.exports).filter((p) => p !== './package.json').map((p) => 'netfilter-queue' + p.slice(1));
  Promise.all(names.map((n) => import(n))).then((mods) => {
    names.forEach((n, i) => { if (Object.keys(require(n)).join() !== Object.keys(mods[i]).join()) throw new Error(n + ': require and import differ'); });
    console.log('import and require agree for: ' + names.join(', '));
  }).catch((e) => { console.error(e); process.exit(1); });
"

step "the README library example, in a namespace with traffic"
ip netns add "$ns"
in_ns ip link set lo up
awk '/^## Library/ { lib = 1 } lib && /^```js$/ { on = 1; next } on && /^```$/ { exit } on' "$root/README.md" >firewall.mjs
grep -q "from 'netfilter-queue'" firewall.mjs || fail "no README library example found"
cp "$root/scripts/udp-probe.mjs" udp.mjs
in_ns iptables-legacy -w -A OUTPUT -p udp --dport 7100 -j NFQUEUE --queue-num 0
ip netns exec "$ns" node firewall.mjs >"$work/firewall.out" 2>&1 &
fw=$!
pids+=("$fw")
wait_for_line "$work/firewall.out" 20 'queue 0 bound'
ip netns exec "$ns" node udp.mjs sink 7100 15 >"$work/sink.out" &
pids+=($!)
wait_for_line "$work/sink.out" 10 listening
in_ns node udp.mjs send 7100 ok 10
in_ns node udp.mjs send 7100 forbidden 5
wait_for_line "$work/sink.out" 25 '^\{"total"'
cat "$work/sink.out"
grep -q '"total":10,"seen":{"ok":10}' "$work/sink.out" || fail "the example should pass the 10 ok datagrams and drop the 5 forbidden ones"
kill -TERM "$fw"
wait_for_line "$work/firewall.out" 10 '^\{"received":15'
wait "$fw" || fail "the README example exited with $?"
grep -E '^\{"received"' "$work/firewall.out" | cut -c1-160

step "transportKind, and a 5 s flood over the forced fallback socket"
cat >flood-consumer.mjs <<'EOF'
import { openQueue } from 'netfilter-queue';
const queue = await openQueue(Number(process.argv[2]), () => 'accept', { receiveBufferSize: 65536 });
console.log(JSON.stringify({ ready: true, transportKind: queue.transportKind }));
process.once('SIGTERM', async () => {
  await queue.close();
  const s = queue.stats();
  console.log(JSON.stringify({ closed: true, received: s.received, accepted: s.verdicts.accept, pending: s.pending }));
});
EOF
ip netns exec "$ns" node flood-consumer.mjs 3 >"$work/native-queue.out" 2>&1 &
pids+=($!)
wait_for_line "$work/native-queue.out" 15 '"transportKind":"native"'
kill -TERM "$!"
wait_for_line "$work/native-queue.out" 10 closed
echo "openQueue in the consumer project: $(grep -o '"transportKind":"[a-z]*"' "$work/native-queue.out")"

in_ns iptables-legacy -w -A OUTPUT -p udp --dport 7200:7201 -j NFQUEUE --queue-num 2
NFQUEUE_TRANSPORT=netlink ip netns exec "$ns" node flood-consumer.mjs 2 >"$work/fallback.out" 2>&1 &
fb=$!
pids+=("$fb")
wait_for_line "$work/fallback.out" 15 '"transportKind":"netlink"'
in_ns node "$root/test/support/traffic.mjs" flood udp 127.0.0.1 7200 --seconds 5 | tee "$work/flood.out"
kill -0 "$fb" 2>/dev/null || { cat "$work/fallback.out" >&2; fail "the fallback consumer died in the flood"; }
for ((i = 0; i < 100; i++)); do
  [ "$(queue_row 2 | awk '{ print $3 }')" = 0 ] && break
  sleep 0.1
done
row="$(queue_row 2)"
echo "queue 2 after the flood (queue portid waiting copymode copyrange queue_dropped user_dropped last_id 1): $row"
[ "$(echo "$row" | awk '{ print $3 }')" = 0 ] || fail "packets still wait in queue 2"
[ "$(echo "$row" | awk '{ print $6 }')" -gt 0 ] || fail "no queue_dropped count: the bound did not act"
[ "$(echo "$row" | awk '{ print $7 }')" = 0 ] || fail "the fallback socket overran (user_dropped)"
ip netns exec "$ns" node udp.mjs sink 7201 20 >"$work/sink2.out" &
pids+=($!)
wait_for_line "$work/sink2.out" 10 listening
in_ns node udp.mjs send 7201 later 20 20
wait_for_line "$work/sink2.out" 25 '^\{"total"'
grep -q '"total":20' "$work/sink2.out" || fail "new traffic did not pass after the flood: $(cat "$work/sink2.out")"
kill -TERM "$fb"
wait_for_line "$work/fallback.out" 10 closed
wait "$fb" || fail "the fallback consumer exited with $?"
grep -c NFQUEUE_MAXLEN_BOUNDED "$work/fallback.out" | grep -qx 1 || fail "the bound should be said once"
grep -E 'closed|Warning' "$work/fallback.out"

step "consumer check passed"
