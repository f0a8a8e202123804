/**
 * Property tests: random and mutated bytes fed to the netlink decoders produce only
 * NetlinkDecodeError, never another exception, and never a hang (a watchdog kills the test
 * process if a loop does not end).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { parseMessages, parseErrorMessage } from '../../src/netlink/message.js';
import { AttributeDecoder, parseAttributes } from '../../src/netlink/attributes.js';
import { NetlinkDecodeError } from '../../src/netlink/errors.js';
import { check, splitMessages, concat } from '../support/bytes.js';
import { datagramArb, errorMessageArb, mutate, mutationArb, rawMessageArb } from '../support/arbitraries.js';
import { withWatchdog } from '../support/watchdog.js';

function checkDecodeError(e: unknown, size: number): void {
  if (!(e instanceof NetlinkDecodeError)) throw e;
  check(Number.isInteger(e.offset) && e.offset >= 0 && e.offset <= size, () => `offset ${e.offset} outside 0..${size}`);
  check(typeof e.truncated === 'boolean', 'truncated is not a boolean');
}

/** parseMessages must agree with the test-side splitter, and NLMSG_ERROR decoding must only throw NetlinkDecodeError. */
function checkDatagram(d: Uint8Array): void {
  let expected: Uint8Array[] | undefined;
  try {
    expected = splitMessages(d);
  } catch {
    expected = undefined;
  }
  let msgs;
  try {
    msgs = parseMessages(d);
  } catch (e) {
    checkDecodeError(e, d.length);
    check(expected === undefined, 'parseMessages refused what the test-side splitter accepts');
    return;
  }
  check(expected !== undefined && expected.length === msgs.length, 'parseMessages accepted what the test-side splitter refuses');
  msgs.forEach((m, i) => {
    const x = expected![i]!;
    check(m.offset === x.byteOffset - d.byteOffset && m.header.length === x.length, () => `message ${i} differs`);
    check(m.payloadLength === m.header.length - 16, 'payloadLength');
    if (m.header.type !== 2) return;
    try {
      const em = parseErrorMessage(m);
      check(Number.isInteger(em.errno), 'errno is not an integer');
      if (em.requestPayload !== undefined) {
        check(em.requestPayload.byteOffset + em.requestPayload.length <= d.byteOffset + m.offset + m.header.length, 'echoed request runs past the message');
      }
    } catch (e) {
      checkDecodeError(e, d.length);
    }
  });
}

/** Every accessor on every attribute of a random range: nothing throws; errors are NetlinkDecodeError. */
function checkAttributes(b: Uint8Array, start: number, end: number): void {
  const ad = new AttributeDecoder(b, start, end);
  let n = 0;
  while (ad.next()) {
    n++;
    check(n <= Math.ceil((end - start) / 4), 'more attributes than the range can hold');
    check(ad.valueOffset + ad.valueLength <= end, 'value runs past the range');
    switch (ad.type % 8) {
      case 0: ad.u8(); break;
      case 1: ad.u16(); break;
      case 2: ad.u32(); break;
      case 3: ad.be16(); break;
      case 4: ad.be32(); break;
      case 5: ad.be64(); break;
      case 6: ad.string(); break;
      case 7: checkAttributes(b, ad.valueOffset, ad.valueOffset + ad.valueLength); break;
    }
  }
  if (ad.error !== undefined) checkDecodeError(ad.error, b.length);
  try {
    parseAttributes(b, start, end);
  } catch (e) {
    checkDecodeError(e, b.length);
  }
}

const validDatagrams: Uint8Array[] = fc.sample(fc.array(fc.oneof(rawMessageArb, errorMessageArb), { minLength: 1, maxLength: 3 }), { numRuns: 200, seed: 7 }).map((ms) => concat(...ms));

describe('netlink decoders on random and mutated bytes', () => {
  it('parseMessages / parseErrorMessage: 30,000 datagrams, only NetlinkDecodeError', async () => {
    await withWatchdog('parseMessages fuzz', 40_000, (wd) => {
      const run = (d: Uint8Array): void => {
        wd.note(d);
        checkDatagram(d);
      };
      fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), run), { numRuns: 8000 });
      fc.assert(fc.property(datagramArb, run), { numRuns: 10000 });
      fc.assert(
        fc.property(fc.constantFrom(...validDatagrams), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (d, muts) => run(mutate(d, muts))),
        { numRuns: 12000 },
      );
    });
  });

  it('AttributeDecoder: random ranges, every accessor, only NetlinkDecodeError', async () => {
    await withWatchdog('AttributeDecoder fuzz', 20_000, (wd) => {
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 100 }), rawMessageArb), fc.nat(), fc.nat(), (b, s, e) => {
          wd.note(b);
          const start = b.length === 0 ? 0 : s % (b.length + 1);
          const end = start + (e % (b.length - start + 1));
          checkAttributes(b, start, end);
        }),
        { numRuns: 5000 },
      );
    });
  });
});
