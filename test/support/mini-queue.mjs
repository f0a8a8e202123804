#!/usr/bin/env node
// A deliberately tiny nfnetlink_queue consumer used ONLY to test the test helpers
// (queueProc / waitForQueueBound) independently of the library under test.
// It uses the raw socket from the `netlink` npm package and hand-built messages.
//
//   node mini-queue.mjs QUEUE [--verdict accept|drop] [--quiet]
//
// Prints {"bound":true,"queue":Q,"portid":P} once BIND and PARAMS(copy packet) are acked,
// {"packet":true,"id":ID,"len":N} per packet (unless --quiet), {"error":ERRNO,...} for
// NLMSG_ERROR replies, and {"done":true,"packets":N} on SIGTERM/SIGINT.

import netlink from 'netlink';

const { RawNetlinkSocket } = netlink;

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_QUEUE = 3;
const MSG_PACKET = (NFNL_SUBSYS_QUEUE << 8) | 0;
const MSG_VERDICT = (NFNL_SUBSYS_QUEUE << 8) | 1;
const MSG_CONFIG = (NFNL_SUBSYS_QUEUE << 8) | 2;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NLMSG_ERROR = 2;

const args = process.argv.slice(2);
const queue = Number(args[0]);
if (!Number.isInteger(queue) || queue < 0 || queue > 65535) {
  process.stderr.write('usage: mini-queue.mjs QUEUE [--verdict accept|drop] [--quiet]\n');
  process.exit(2);
}
const vIdx = args.indexOf('--verdict');
const verdict = vIdx >= 0 && args[vIdx + 1] === 'drop' ? 0 : 1;
const quiet = args.includes('--quiet');

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let seq = 1;
function message(type, flags, attrs) {
  const body = Buffer.concat(attrs.map(([t, payload]) => {
    const len = 4 + payload.length;
    const buf = Buffer.alloc((len + 3) & ~3);
    buf.writeUInt16LE(len, 0);
    buf.writeUInt16LE(t, 2);
    payload.copy(buf, 4);
    return buf;
  }));
  const hdr = Buffer.alloc(20);
  hdr.writeUInt32LE(20 + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt16LE(flags, 6);
  hdr.writeUInt32LE(seq++, 8);
  hdr.writeUInt32LE(0, 12);
  hdr.writeUInt8(0, 16); // nfgen family AF_UNSPEC
  hdr.writeUInt8(0, 17); // version
  hdr.writeUInt16BE(queue, 18); // res_id
  return Buffer.concat([hdr, body]);
}

const sock = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
const portid = sock.address().port;
let packets = 0;
let acksWanted = 0;

function send(buf) {
  sock.send(buf, {}, (err) => {
    if (err) out({ error: err.errno, code: err.code, where: 'send' });
  });
}

sock.on('message', (data) => {
  let off = 0;
  while (off + 16 <= data.length) {
    const len = data.readUInt32LE(off);
    const type = data.readUInt16LE(off + 4);
    if (len < 16 || off + len > data.length) break;
    if (type === NLMSG_ERROR) {
      const errno = -data.readInt32LE(off + 16);
      if (errno !== 0) out({ error: errno, seq: data.readUInt32LE(off + 28) });
      else if (--acksWanted === 0) out({ bound: true, queue, portid });
    } else if (type === MSG_PACKET) {
      let a = off + 20;
      let id = -1;
      let plen = 0;
      while (a + 4 <= off + len) {
        const alen = data.readUInt16LE(a);
        const atype = data.readUInt16LE(a + 2) & 0x3fff;
        if (alen < 4) break;
        if (atype === 1) id = data.readUInt32BE(a + 4);
        if (atype === 10) plen = alen - 4;
        a += (alen + 3) & ~3;
      }
      packets++;
      if (!quiet) out({ packet: true, id, len: plen });
      const vh = Buffer.alloc(8);
      vh.writeUInt32BE(verdict, 0);
      vh.writeUInt32BE(id, 4);
      send(message(MSG_VERDICT, NLM_F_REQUEST, [[2, vh]]));
    }
    off += (len + 3) & ~3;
  }
});
sock.on('error', (e) => out({ error: e.errno, code: e.code, where: 'socket' }));

// BIND (cmd 1), then PARAMS {be32 copy_range, u8 mode=2 PACKET}.
acksWanted = 2;
send(message(MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, [[1, Buffer.from([1, 0, 0, 2])]]));
const params = Buffer.alloc(5);
params.writeUInt32BE(0xffff, 0);
params.writeUInt8(2, 4);
send(message(MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, [[2, params]]));

function finish() {
  out({ done: true, packets });
  sock.close();
  process.exit(0);
}
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
