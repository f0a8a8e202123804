#!/usr/bin/env node
// Run by prebuilds.test.ts under an emulated Node or Bun of another architecture (qemu-user):
// the package's loader must pick that architecture's prebuilt addon, the addon must open
// a netlink socket and receive (NETLINK_ROUTE: the one protocol qemu-user translates), and
// a recorded nfqueue conversation must replay through the public API. Prints one JSON line.
import { fileURLToPath } from 'node:url';
import { openQueue } from '../../dist/index.js';
import { nativeAddonPath, openNativeTransport } from '../../dist/netlink/native-transport.js';
import { replay } from '../../dist/pcap/index.js';

const NETLINK_ROUTE = 0;
const RTM_GETLINK = 18;
const NLMSG_DONE = 3;

// 1. The addon: a link dump over a NETLINK_ROUTE socket.
const t = openNativeTransport(NETLINK_ROUTE);
const links = await new Promise((resolve, reject) => {
  let count = 0;
  const timer = setTimeout(() => reject(new Error('no NLMSG_DONE within 20 s')), 20_000);
  t.start({
    datagram(data) {
      const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let off = 0; off + 16 <= data.byteLength; ) {
        const len = v.getUint32(off, true);
        if (v.getUint16(off + 4, true) === NLMSG_DONE) {
          clearTimeout(timer);
          resolve(count);
          return;
        }
        count++;
        off += (len + 3) & ~3;
        if (len < 16) break;
      }
    },
    error: reject,
  });
  const req = new Uint8Array(32);
  const w = new DataView(req.buffer);
  w.setUint32(0, 32, true);
  w.setUint16(4, RTM_GETLINK, true);
  w.setUint16(6, 0x301, true); // NLM_F_REQUEST | NLM_F_DUMP
  w.setUint32(8, 1, true);
  t.send(req);
});
t.close();

// 2. A replay through openQueue, as the fixture tests do.
const pcap = fileURLToPath(new URL('../../fixtures/ipv4-udp-output.pcap', import.meta.url));
const r = replay(pcap);
let packets = 0;
const q = await openQueue(0, () => {
  packets++;
  return 'accept';
}, { maxLen: 256, flags: { failOpen: true }, transport: r });
const result = await r.done;
await q.close();
console.log(JSON.stringify({ arch: process.arch, addon: nativeAddonPath(), kind: t.kind, receiveMode: t.receiveMode, links, packets, mismatches: result.mismatches.length }));
