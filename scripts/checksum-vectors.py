#!/usr/bin/python3
"""Writes fixtures/checksums/vectors.json: known-answer checksum vectors that owe nothing to
the library's own code.

Three sources:
- packets the kernel itself checksummed: the payloads of the PACKET messages in the
  fixtures' recordings (fixtures/*.pcap, link type 253), queued in PACKET copy mode with
  no SKB_INFO, so the kernel completed their checksums before queueing them;
- TCP and UDP over IPv4 and IPv6, with and without IPv6 extension headers (hop-by-hop,
  destination options, routing, fragment, AH, Mobility, ESP), built here byte by byte with
  a one's-complement sum written here, each in a good and a damaged variant;
- an RFC-style IPv4 header whose checksum is published (0xb861).

Every vector then goes through tshark with checksum validation on, and tshark's verdicts
are stored beside the bytes. The unit test (test/packet/checksum-vectors.test.ts) checks
verifyChecksums() and fixChecksums() against those verdicts; it needs neither root nor
tshark. Run again (python3 scripts/checksum-vectors.py) only to add vectors.
"""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'fixtures', 'checksums', 'vectors.json')


def ones_complement_sum(data):
    if len(data) % 2:
        data = data + b'\0'
    s = 0
    for (w,) in struct.iter_unpack('!H', data):
        s += w
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum(data):
    return (~ones_complement_sum(data)) & 0xFFFF


SRC4, DST4 = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7])
SRC6 = bytes.fromhex('20010db8000000000000000000000001')
DST6 = bytes.fromhex('20010db800000000000000000000beef')


def udp(sport, dport, data):
    return struct.pack('!HHHH', sport, dport, 8 + len(data), 0) + data


def tcp(sport, dport, data, flags=0x18):
    # 24-byte header: one MSS option, so the data offset is not the minimal 5.
    return struct.pack('!HHIIBBHHH', sport, dport, 0x01020304, 0x0a0b0c0d, 6 << 4, flags, 0xFFFF, 0, 0) + bytes([2, 4, 0x05, 0xB4]) + data


CSUM_FIELD = {6: 16, 17: 6}


def put16(b, off, v):
    b[off:off + 2] = struct.pack('!H', v)


def l4_checksum(pseudo, l4, proto):
    c = checksum(pseudo + bytes(l4))
    if proto == 17 and c == 0:
        c = 0xFFFF
    return c


def ipv4(proto, l4, ident=0x1c46, frag=0x4000):
    l4 = bytearray(l4)
    pseudo = SRC4 + DST4 + struct.pack('!BBH', 0, proto, len(l4))
    put16(l4, CSUM_FIELD[proto], l4_checksum(pseudo, l4, proto))
    h = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), ident, frag, 64, proto, 0, SRC4, DST4))
    put16(h, 10, checksum(bytes(h)))
    return bytes(h + l4)


def ext(next_header, body):
    """A uniform-format extension header (RFC 6564): next header, length in 8-octet units beyond the first."""
    total = 2 + len(body)
    assert total % 8 == 0
    return bytes([next_header, total // 8 - 1]) + body


def padn(n):
    # PadN option of n octets (RFC 8200 §4.2): type 1, length n-2.
    return bytes([1, n - 2]) + bytes(n - 2)


def hop_by_hop(nh):
    return ext(nh, padn(6))


def dest_opts(nh):
    # An unknown option of type 0x1e (skip if unrecognised) with 4 data octets, plus padding.
    return ext(nh, bytes([0x1E, 4, 0xDE, 0xAD, 0xBE, 0xEF]) + padn(8))


def routing(nh):
    # Type 2 routing header (RFC 6275 §6.4) with segments left 0: the final destination is the IPv6 dst.
    return ext(nh, bytes([2, 0]) + bytes(4) + DST6)


def fragment(nh, offset=0, more=False, ident=0x2A2A2A2A):
    return struct.pack('!BBHI', nh, 0, (offset & 0xFFF8) | (1 if more else 0), ident)


def ah(nh):
    # RFC 4302: next header, payload length (4-octet units minus 2), reserved, SPI, sequence, 12-octet ICV.
    body = struct.pack('!HII', 0, 0x100, 1) + bytes(range(12))
    return bytes([nh, (2 + len(body)) // 4 - 2]) + body


def mobility(payload_proto=59):
    # Binding Refresh Request (MH type 0): 8 octets, its own checksum left 0 (not validated here).
    return bytes([payload_proto, 0, 0, 0, 0, 0, 0, 0])


def ipv6(chain, proto, l4, checksummed=True):
    """`chain` is a list of (number, builder) extension headers; `proto` follows the last one."""
    l4 = bytearray(l4)
    if checksummed and proto in CSUM_FIELD:
        pseudo = SRC6 + DST6 + struct.pack('!IxxxB', len(l4), proto)
        put16(l4, CSUM_FIELD[proto], l4_checksum(pseudo, l4, proto))
    headers = b''
    nh = proto
    for number, build in reversed(chain):
        headers = build(nh) + headers
        nh = number
    payload = headers + bytes(l4)
    fixed = struct.pack('!IHBB16s16s', 0x60000000, len(payload), nh, 64, SRC6, DST6)
    return fixed + payload


def damage(p, offset):
    b = bytearray(p)
    b[offset] ^= 0x5A
    return bytes(b)


def built_vectors():
    v = []
    u = udp(40000, 5353, b'hello, odd')
    t = tcp(40001, 80, b'GET / HTTP/1.0\r\n\r\n!')
    v.append(('ipv4 udp', ipv4(17, u), 20 + 6))
    v.append(('ipv4 tcp', ipv4(6, t), 20 + 16))
    v.append(('ipv4 udp, no checksum (0)', ipv4(17, u)[:26] + b'\0\0' + ipv4(17, u)[28:], None))
    v.append(('ipv4 udp, first fragment (more fragments)', ipv4(17, u, frag=0x2000), None))
    chains = {
        'no extension header': [],
        'hop-by-hop': [(0, hop_by_hop)],
        'destination options': [(60, dest_opts)],
        'routing (type 2, segments left 0)': [(43, routing)],
        'atomic fragment (offset 0, no more)': [(44, fragment)],
        'AH': [(51, ah)],
        'hop-by-hop, destination options, routing, AH, destination options': [(0, hop_by_hop), (60, dest_opts), (43, routing), (51, ah), (60, dest_opts)],
    }
    for name, chain in chains.items():
        for proto, l4 in ((17, u), (6, t)):
            p = ipv6(chain, proto, l4)
            l4_off = len(p) - len(l4)
            label = f"ipv6 {'udp' if proto == 17 else 'tcp'}, {name}"
            v.append((label, p, l4_off + CSUM_FIELD[proto]))
    v.append(('ipv6 udp, zero checksum (forbidden over IPv6)', damage_zero(ipv6([], 17, u)), None))
    v.append(('ipv6 udp, first fragment (more fragments)', ipv6([(44, lambda nh: fragment(nh, 0, True))], 17, u), None))
    v.append(('ipv6 udp, non-first fragment', ipv6([(44, lambda nh: fragment(nh, 1456, False))], 17, u, checksummed=False), None))
    v.append(('ipv6 Mobility header, no payload (59)', ipv6([(135, lambda nh: mobility())], 59, b''), None))
    v.append(('ipv6 ESP', ipv6([], 50, struct.pack('!II', 0x200, 1) + bytes(24)), None))
    out = []
    for label, p, field in v:
        out.append((label, p))
        if field is not None:
            out.append((label + ', checksum damaged', damage(p, field)))
    # Damaged IPv4 header checksum, transport intact.
    out.append(('ipv4 udp, header checksum damaged', damage(ipv4(17, u), 10)))
    # Published example (IPv4 header checksum 0xb861), with an 8-byte UDP header checksummed here.
    h = bytes.fromhex('450000730000400040110000c0a80001c0a800c7')
    assert checksum(h) == 0xB861
    d = bytearray(udp(1024, 53, bytes(range(0x73 - 28))))
    put16(d, 6, l4_checksum(h[12:20] + struct.pack('!BBH', 0, 17, len(d)), d, 17))
    out.append(('ipv4 header with the published checksum 0xb861 (RFC 1071 style example), udp', h[:10] + b'\xb8\x61' + h[12:] + bytes(d)))
    return out


def damage_zero(p):
    b = bytearray(p)
    b[46:48] = b'\0\0'
    return bytes(b)


def kernel_vectors():
    """PACKET messages' payloads from the recorded conversations, as the kernel queued them."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'fixtures', '*.pcap'))):
        name = os.path.basename(path)
        data = open(path, 'rb').read()
        magic = struct.unpack_from('<I', data, 0)[0]
        assert magic == 0xA1B2C3D4, name
        assert struct.unpack_from('<I', data, 20)[0] == 253, name
        off, record = 24, 0
        while off + 16 <= len(data):
            incl = struct.unpack_from('<I', data, off + 8)[0]
            rec = data[off + 16:off + 16 + incl]
            off += 16 + incl
            record += 1
            if struct.unpack_from('!H', rec, 0)[0] != 0:
                continue  # sent by us
            dg = rec[16:]
            m = 0
            while m + 16 <= len(dg):
                mlen, mtype = struct.unpack_from('<IH', dg, m)
                if mlen < 16:
                    break
                if mtype == 0x0300:
                    attrs, payload, skb_info = dg[m + 20:m + mlen], None, None
                    a = 0
                    while a + 4 <= len(attrs):
                        alen, atype = struct.unpack_from('<HH', attrs, a)
                        if alen < 4:
                            break
                        if atype & 0x3FFF == 10:
                            payload = attrs[a + 4:a + alen]
                        elif atype & 0x3FFF == 14:
                            skb_info = attrs[a + 4:a + alen]
                        elif atype & 0x3FFF == 13:
                            payload = None  # truncated by the copy range: checksum not checkable
                            skb_info = b'cap'
                        a += (alen + 3) & ~3
                    if payload is not None and skb_info is None:
                        out.append((f'kernel: {name} record {record}', bytes(payload)))
                m += (mlen + 3) & ~3
    return out


def rawpcap(packets):
    head = struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
    return head + b''.join(struct.pack('<IIII', i, 0, len(p), len(p)) + p for i, p in enumerate(packets))


STATUS = {'0': 'bad', '1': 'good', '2': 'unverified', '3': 'absent', '4': 'illegal', '': None}


def tshark_verdicts(packets):
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, 'v.pcap')
        open(f, 'wb').write(rawpcap(packets))
        cmd = ['tshark', '-r', f, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
               '-o', 'ipv6.defragment:FALSE', '-o', 'ip.defragment:FALSE',
               '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=f',
               '-e', 'ip.checksum.status', '-e', 'udp.checksum.status', '-e', 'tcp.checksum.status', '-e', 'frame.protocols']
        rows = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.rstrip('\n').split('\n')
    assert len(rows) == len(packets), (len(rows), len(packets))
    out = []
    for row in rows:
        ip, u, t, protocols = row.split('|')
        out.append({'ipv4Header': STATUS[ip], 'udp': STATUS[u], 'tcp': STATUS[t], 'protocols': protocols})
    return out


def main():
    vectors = kernel_vectors() + built_vectors()
    verdicts = tshark_verdicts([p for _, p in vectors])
    version = subprocess.run(['tshark', '--version'], check=True, capture_output=True, text=True).stdout.split('\n')[0]
    doc = {
        'description': 'Checksum known answers: packets the kernel checksummed (fixtures/*.pcap) and packets built by scripts/checksum-vectors.py with its own one\'s-complement sum; verdicts by ' + version + ' with ip/udp/tcp checksum validation on. Generated by scripts/checksum-vectors.py.',
        'vectors': [{'name': n, 'hex': p.hex(), 'tshark': v} for (n, p), v in zip(vectors, verdicts)],
    }
    with open(OUT, 'w') as f:
        json.dump(doc, f, indent=1)
        f.write('\n')
    print(f'{len(vectors)} vectors written to {OUT}', file=sys.stderr)


if __name__ == '__main__':
    main()
