import { describe, expect, it } from 'vitest';
import { MessageWriter } from '../../src/netlink/writer.js';
import {
  accept,
  drop,
  repeat,
  stop,
  requeue,
  normalizeVerdict,
  verdictWord,
  encodeVerdict,
  encodeBatchVerdict,
  MAX_VERDICT_PAYLOAD,
  type Verdict,
} from '../../src/nfqueue/verdict.js';
import { beginQueueMessage } from '../../src/nfqueue/header.js';
import {
  encodeConfigCommand,
  encodeConfigParams,
  encodeConfigMaxLen,
  encodeConfigFlags,
  copyModeValue,
} from '../../src/nfqueue/config.js';
import { encodeConfigFlagsWithoutMask } from '../support/config-requests.js';
import { hex, toHex } from '../support/bytes.js';

function verdictBytes(queue: number, id: number, v: Verdict, seq = 1, pid = 0): string {
  const w = new MessageWriter(64);
  encodeVerdict(w, queue, id, v, { seq, pid });
  return toHex(w.finish());
}

/** nlmsghdr of a verdict (type 0x0301, NLM_F_REQUEST, seq 1, pid 0) + nfgenmsg queue 0. */
const VHDR = (len: number): string => `${len.toString(16).padStart(2, '0')} 00 00 00 01 03 01 00 01 00 00 00 00 00 00 00 | 00 00 00 00`;

const cases: [string, Verdict, string][] = [
  ['accept', accept(), `${VHDR(32)} | 0c 00 02 00 00 00 00 01 00 00 00 07`],
  ['drop', drop(), `${VHDR(32)} | 0c 00 02 00 00 00 00 00 00 00 00 07`],
  ['accept + mark', accept({ mark: 0xdeadbeef }), `${VHDR(40)} | 0c 00 02 00 00 00 00 01 00 00 00 07 | 08 00 03 00 de ad be ef`],
  ['requeue 5', requeue(5), `${VHDR(32)} | 0c 00 02 00 00 05 00 03 00 00 00 07`],
  ['requeue 5 bypass', requeue(5, { bypass: true }), `${VHDR(32)} | 0c 00 02 00 00 05 80 03 00 00 00 07`],
  ['requeue 65535 bypass', requeue(65535, { bypass: true }), `${VHDR(32)} | 0c 00 02 00 ff ff 80 03 00 00 00 07`],
  ['repeat', repeat(), `${VHDR(32)} | 0c 00 02 00 00 00 00 04 00 00 00 07`],
  ['repeat + mark', repeat({ mark: 1 }), `${VHDR(40)} | 0c 00 02 00 00 00 00 04 00 00 00 07 | 08 00 03 00 00 00 00 01`],
  ['stop', stop(), `${VHDR(32)} | 0c 00 02 00 00 00 00 05 00 00 00 07`],
  ['payload (padded)', accept({ payload: hex('01 02 03 04 05') }), `${VHDR(44)} | 0c 00 02 00 00 00 00 01 00 00 00 07 | 09 00 0a 00 01 02 03 04 05 00 00 00`],
  ['priority', accept({ priority: 6 }), `${VHDR(40)} | 0c 00 02 00 00 00 00 01 00 00 00 07 | 08 00 15 00 00 00 00 06`],
  ['connmark', accept({ connmark: 42 }), `${VHDR(44)} | 0c 00 02 00 00 00 00 01 00 00 00 07 | 0c 00 0b 80 08 00 08 00 00 00 00 2a`],
  [
    'vlan',
    accept({ vlan: { proto: 0x8100, tci: 0x0064 } }),
    `${VHDR(52)} | 0c 00 02 00 00 00 00 01 00 00 00 07 | 14 00 13 80 06 00 01 00 81 00 00 00 06 00 02 00 00 64 00 00`,
  ],
  [
    'l2hdr',
    accept({ l2hdr: hex('ff ff ff ff ff ff 02 00 00 00 00 01 08 00') }),
    `${VHDR(52)} | 0c 00 02 00 00 00 00 01 00 00 00 07 | 12 00 14 00 ff ff ff ff ff ff 02 00 00 00 00 01 08 00 00 00`,
  ],
  [
    'everything, in encoder order',
    accept({ mark: 1, priority: 2, connmark: 3, vlan: { proto: 0x8100, tci: 4 }, l2hdr: hex('aa'), payload: hex('45 00') }),
    `${VHDR(96)} | 0c 00 02 00 00 00 00 01 00 00 00 07 | 08 00 03 00 00 00 00 01 | 08 00 15 00 00 00 00 02 | 0c 00 0b 80 08 00 08 00 00 00 00 03` +
      ` | 14 00 13 80 06 00 01 00 81 00 00 00 06 00 02 00 00 04 00 00 | 05 00 14 00 aa 00 00 00 | 06 00 0a 00 45 00 00 00`,
  ],
];

describe('encodeVerdict', () => {
  it.each(cases)('%s', (_name, v, expected) => {
    expect(verdictBytes(0, 7, normalizeVerdict(v), 1, 0)).toBe(toHex(hex(expected)));
  });

  it('writes seq, pid, ack flag and the queue number (be16) in nfgenmsg', () => {
    const w = new MessageWriter(8);
    encodeVerdict(w, 0x1234, 0x01020304, accept(), { seq: 0x0a0b0c0d, pid: 0x11223344, ack: true });
    expect(toHex(w.finish())).toBe(toHex(hex('20 00 00 00 01 03 05 00 0d 0c 0b 0a 44 33 22 11 | 00 00 12 34 | 0c 00 02 00 00 00 00 01 01 02 03 04')));
  });

  it('puts several verdicts in one datagram', () => {
    const w = new MessageWriter(16);
    encodeVerdict(w, 1, 10, accept(), { seq: 1 });
    encodeVerdict(w, 1, 11, accept({ payload: hex('45') }), { seq: 2 });
    encodeVerdict(w, 1, 12, drop(), { seq: 3 });
    expect(toHex(w.finish())).toBe(
      toHex(
        hex(
          '20 00 00 00 01 03 01 00 01 00 00 00 00 00 00 00 00 00 00 01 0c 00 02 00 00 00 00 01 00 00 00 0a' +
            '28 00 00 00 01 03 01 00 02 00 00 00 00 00 00 00 00 00 00 01 0c 00 02 00 00 00 00 01 00 00 00 0b 05 00 0a 00 45 00 00 00' +
            '20 00 00 00 01 03 01 00 03 00 00 00 00 00 00 00 00 00 00 01 0c 00 02 00 00 00 00 00 00 00 00 0c',
        ),
      ),
    );
  });

  it('writes the maximum payload', () => {
    const w = new MessageWriter();
    encodeVerdict(w, 0, 1, accept({ payload: new Uint8Array(MAX_VERDICT_PAYLOAD) }), { seq: 1 });
    const out = w.finish();
    expect(MAX_VERDICT_PAYLOAD).toBe(65531);
    expect(out.length).toBe(32 + 65536);
    expect(toHex(out.subarray(32, 36))).toBe('ff ff 0a 00');
  });
});

describe('encodeBatchVerdict', () => {
  it('writes a batch verdict with a mark', () => {
    const w = new MessageWriter();
    encodeBatchVerdict(w, 3, 100, { verdict: 'accept', mark: 9 }, { seq: 2, pid: 5 });
    expect(toHex(w.finish())).toBe(
      toHex(hex('28 00 00 00 03 03 01 00 02 00 00 00 05 00 00 00 | 00 00 00 03 | 0c 00 02 00 00 00 00 01 00 00 00 64 | 08 00 03 00 00 00 00 09')),
    );
  });

  it('writes a requeueing batch drop with priority', () => {
    const w = new MessageWriter();
    encodeBatchVerdict(w, 0, 0xffffffff, { verdict: 'queue', queue: 2, bypass: true, priority: 1 }, { seq: 3 });
    expect(toHex(w.finish())).toBe(
      toHex(hex('28 00 00 00 03 03 01 00 03 00 00 00 00 00 00 00 | 00 00 00 00 | 0c 00 02 00 00 02 80 03 ff ff ff ff | 08 00 15 00 00 00 00 01')),
    );
  });
});

describe('config builders', () => {
  const build = (f: (w: MessageWriter) => void): string => {
    const w = new MessageWriter();
    f(w);
    return toHex(w.finish());
  };
  const CHDR = (len: number, seq = 1): string => `${len.toString(16).padStart(2, '0')} 00 00 00 02 03 05 00 ${seq.toString(16).padStart(2, '0')} 00 00 00 92 10 00 00`;

  it('BIND / UNBIND / PF_BIND / PF_UNBIND: {u8 cmd, u8 pad, be16 pf}', () => {
    const h = { seq: 1, pid: 4242, ack: true };
    expect(build((w) => encodeConfigCommand(w, 0, 1, 0, h))).toBe(toHex(hex(`${CHDR(28)} | 00 00 00 00 | 08 00 01 00 01 00 00 00`)));
    expect(build((w) => encodeConfigCommand(w, 0x1234, 2, 0, h))).toBe(toHex(hex(`${CHDR(28)} | 00 00 12 34 | 08 00 01 00 02 00 00 00`)));
    expect(build((w) => encodeConfigCommand(w, 0, 3, 10, h))).toBe(toHex(hex(`${CHDR(28)} | 00 00 00 00 | 08 00 01 00 03 00 00 0a`)));
    expect(build((w) => encodeConfigCommand(w, 0, 4, 0x0102, h))).toBe(toHex(hex(`${CHDR(28)} | 00 00 00 00 | 08 00 01 00 04 00 01 02`)));
  });

  it('PARAMS: 5 packed bytes, attribute length 9', () => {
    expect(build((w) => encodeConfigParams(w, 7, 2, 0xffff, { seq: 1, pid: 4242, ack: true }))).toBe(
      toHex(hex(`${CHDR(32)} | 00 00 00 07 | 09 00 02 00 00 00 ff ff 02 00 00 00`)),
    );
    expect(build((w) => encodeConfigParams(w, 0, 1, 0x01020304, { seq: 1, pid: 4242, ack: true }))).toBe(
      toHex(hex(`${CHDR(32)} | 00 00 00 00 | 09 00 02 00 01 02 03 04 01 00 00 00`)),
    );
  });

  it('QUEUE_MAXLEN be32', () => {
    expect(build((w) => encodeConfigMaxLen(w, 0, 4096, { seq: 1, pid: 4242, ack: true }))).toBe(toHex(hex(`${CHDR(28)} | 00 00 00 00 | 08 00 03 00 00 00 10 00`)));
  });

  it('FLAGS then MASK, be32 each', () => {
    expect(build((w) => encodeConfigFlags(w, 0, 0x01, 0x05, { seq: 1, pid: 4242, ack: true }))).toBe(
      toHex(hex(`${CHDR(36)} | 00 00 00 00 | 08 00 05 00 00 00 00 01 | 08 00 04 00 00 00 00 05`)),
    );
    expect(build((w) => encodeConfigFlagsWithoutMask(w, 0, 0x02, { seq: 1, pid: 4242, ack: true }))).toBe(
      toHex(hex(`${CHDR(28)} | 00 00 00 00 | 08 00 05 00 00 00 00 02`)),
    );
  });

  it('nfgenmsg: family u8, version 0, be16 queue', () => {
    const w = new MessageWriter();
    beginQueueMessage(w, 2, 0x1234, 10, { seq: 9 });
    w.end();
    expect(toHex(w.finish())).toBe('14 00 00 00 02 03 01 00 09 00 00 00 00 00 00 00 0a 00 12 34');
  });

  it('copy modes by name', () => {
    expect(['none', 'meta', 'packet'].map((m) => copyModeValue(m as 'none'))).toEqual([0, 1, 2]);
    expect(() => copyModeValue('all' as 'none')).toThrow(RangeError);
  });
});

describe('verdictWord', () => {
  it('maps names to NF_* codes and requeue targets to the upper 16 bits', () => {
    expect(verdictWord({ verdict: 'drop' })).toBe(0);
    expect(verdictWord({ verdict: 'accept' })).toBe(1);
    expect(verdictWord({ verdict: 'repeat' })).toBe(4);
    expect(verdictWord({ verdict: 'stop' })).toBe(5);
    expect(verdictWord(requeue(5))).toBe((5 << 16) | 3);
    expect(verdictWord(requeue(5, { bypass: true }))).toBe((5 << 16) | 0x8000 | 3);
    expect(verdictWord(requeue(0xffff, { bypass: true }))).toBe(0xffff8003);
  });
});

describe('normalizeVerdict', () => {
  it('interns names and returns valid objects as they are', () => {
    const a = normalizeVerdict('accept');
    expect(a).toEqual({ verdict: 'accept' });
    expect(normalizeVerdict('accept')).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(normalizeVerdict('drop')).toEqual({ verdict: 'drop' });
    expect(normalizeVerdict('repeat')).toEqual({ verdict: 'repeat' });
    expect(normalizeVerdict('stop')).toEqual({ verdict: 'stop' });
    const v = accept({ mark: 0xffffffff, payload: new Uint8Array(MAX_VERDICT_PAYLOAD) });
    expect(normalizeVerdict(v)).toBe(v);
    expect(normalizeVerdict(requeue(0))).toEqual({ verdict: 'queue', queue: 0 });
    expect(normalizeVerdict(Buffer.from([1]) && accept({ payload: Buffer.from([1]) })).payload).toBeInstanceOf(Uint8Array);
  });

  const bad: [string, unknown, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, RegExp][] = [
    ['unknown name', 'stolen', RangeError, /unknown verdict 'stolen'/],
    ['unknown name in an object', { verdict: 'stolen' }, RangeError, /unknown verdict "stolen"/],
    ['null', null, TypeError, /got null/],
    ['undefined', undefined, TypeError, /got undefined/],
    ['a number', 1, TypeError, /got number/],
    // A newcomer's mistakes: each says what it got and what to do (not "unknown verdict undefined").
    ['an array holding a Promise', [Promise.resolve('accept')], TypeError, /got an array of 1 \(a Promise\): return the Promise itself \(an async callback\), not an array holding it$/],
    ['a Promise where a verdict must be given now', Promise.resolve('accept'), TypeError, /got a Promise: a callback may return a Promise, but here the verdict must be given now$/],
    ['an object without its verdict field', { mark: 1 }, TypeError, /^a verdict object needs its verdict field, e.g. \{ verdict: 'accept' \}; got an object with mark$/],
    ['requeue without a queue', { verdict: 'queue' }, RangeError, /queue must be an integer in 0..65535, got undefined/],
    ['requeue to 70000', requeue(70000), RangeError, /queue .*got 70000/],
    ['requeue to -1', requeue(-1), RangeError, /queue .*got -1/],
    ['requeue to 1.5', requeue(1.5), RangeError, /queue .*got 1.5/],
    ['mark 2**32', accept({ mark: 2 ** 32 }), RangeError, /mark .*got 4294967296/],
    ['negative mark', accept({ mark: -1 }), RangeError, /mark .*got -1/],
    ['non-integer mark', accept({ mark: 1.5 }), RangeError, /mark .*got 1.5/],
    ['string mark', { verdict: 'accept', mark: '1' }, RangeError, /mark/],
    ['NaN mark', accept({ mark: NaN }), RangeError, /mark/],
    ['connmark 2**32', accept({ connmark: 2 ** 32 }), RangeError, /connmark/],
    ['negative priority', accept({ priority: -5 }), RangeError, /priority/],
    ['payload too big', accept({ payload: new Uint8Array(MAX_VERDICT_PAYLOAD + 1) }), RangeError, /payload of 65532 bytes/],
    ['payload not bytes', { verdict: 'accept', payload: [1, 2, 3] }, TypeError, /payload must be a Uint8Array/],
    ['l2hdr not bytes', { verdict: 'accept', l2hdr: 'x' }, TypeError, /l2hdr/],
    ['vlan not an object', { verdict: 'accept', vlan: 5 }, TypeError, /vlan/],
    ['vlan proto 70000', accept({ vlan: { proto: 70000, tci: 0 } }), RangeError, /vlan\.proto/],
    ['vlan tci -1', accept({ vlan: { proto: 0x8100, tci: -1 } }), RangeError, /vlan\.tci/],
  ];
  it.each(bad)('refuses %s', (_name, input, type, message) => {
    let thrown: unknown;
    try {
      normalizeVerdict(input);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(type);
    expect((thrown as Error).message).toMatch(message);
  });
});

describe('verdict helpers', () => {
  it('build verdict objects', () => {
    expect(accept()).toEqual({ verdict: 'accept' });
    expect(accept({ mark: 3 })).toEqual({ verdict: 'accept', mark: 3 });
    expect(drop()).toEqual({ verdict: 'drop' });
    expect(repeat({ mark: 1 })).toEqual({ verdict: 'repeat', mark: 1 });
    expect(stop({ priority: 2 })).toEqual({ verdict: 'stop', priority: 2 });
    expect(requeue(5, { bypass: true })).toEqual({ verdict: 'queue', queue: 5, bypass: true });
    // options cannot override the verdict name
    expect(accept({ verdict: 'drop' } as never).verdict).toBe('accept');
  });
});
