#!/usr/bin/env python3
"""Traffic for scripts/capture-fixtures.mjs. Runs inside a network namespace
(`ip netns exec NS python3 scripts/fixture-traffic.py CMD ...`) and talks JSON lines on
stdout. Python, not Node, because the fixtures need what Node's sockets cannot do:
SO_TIMESTAMPNS on a receiver (which also makes the kernel timestamp received packets, so
NFQA_TIMESTAMP appears) and raw ICMP sockets.

  udp-recv --family 4|6 --bind ADDR --port P --count N [--timeout S] [--timestamps]
      -> {"ready":true}, one {"len","from","sport","data","tsns"} per datagram, {"done":...}
  udp-send --family 4|6 --dst ADDR --dport P --sport P [--src ADDR] --data HEX [--data HEX ...]
           [--ttl N] [--gap MS]
  tcp-server --family 4|6 --bind ADDR --port P [--timeout S]
      -> {"ready":true}; accepts one connection, reads to EOF, {"done":true,"bytes":N}
  tcp-client --family 4|6 --dst ADDR --dport P --sport P [--bytes N] [--chunk N] [--hold MS]
      connects, holds MS, writes N bytes (byte i = i % 251) in chunks, closes.
  icmp-echo --dst ADDR --ident N --seq N --size N
      sends one ICMP echo request from a raw socket and waits for the reply.
  icmp6-echo --dst ADDR --ident N --seq N --size N
      the same with ICMPv6.
"""
import argparse
import json
import select
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = 35


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fam(args):
    return socket.AF_INET6 if args.family == 6 else socket.AF_INET


def udp_recv(a):
    s = socket.socket(fam(a), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.timestamps:
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((a.bind, a.port))
    out({"ready": True})
    got = 0
    deadline = time.time() + a.timeout
    while got < a.count:
        left = deadline - time.time()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        data, anc, _flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(16))
        tsns = None
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", cdata[:16])
                tsns = str(sec * 1_000_000_000 + nsec)
        out({"len": len(data), "from": addr[0], "sport": addr[1], "data": data.hex(), "tsns": tsns})
        got += 1
    out({"done": True, "received": got})


def udp_send(a):
    s = socket.socket(fam(a), socket.SOCK_DGRAM)
    if a.ttl is not None:
        if a.family == 6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, a.ttl)
        else:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, a.ttl)
    s.bind((a.src or ("::" if a.family == 6 else "0.0.0.0"), a.sport))
    for i, h in enumerate(a.data):
        if i > 0 and a.gap > 0:
            time.sleep(a.gap / 1000)
        s.sendto(bytes.fromhex(h), (a.dst, a.dport))
    out({"done": True, "sent": len(a.data)})


def tcp_server(a):
    s = socket.socket(fam(a), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    s.listen(1)
    s.settimeout(a.timeout)
    out({"ready": True})
    c, _ = s.accept()
    c.settimeout(a.timeout)
    total = 0
    ok = True
    while True:
        b = c.recv(262144)
        if not b:
            break
        for j, x in enumerate(b):
            if x != (total + j) % 251:
                ok = False
                break
        total += len(b)
    c.close()
    out({"done": True, "bytes": total, "patternOk": ok})


def tcp_client(a):
    s = socket.socket(fam(a), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.src or ("::" if a.family == 6 else "0.0.0.0"), a.sport))
    s.connect((a.dst, a.dport))
    if a.hold > 0:
        time.sleep(a.hold / 1000)
    sent = 0
    pattern = bytes(i % 251 for i in range(251))
    while sent < a.bytes:
        n = min(a.chunk, a.bytes - sent)
        start = sent % 251
        buf = (pattern * ((start + n) // 251 + 2))[start:start + n]
        s.sendall(buf)
        sent += n
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    while s.recv(65536):
        pass
    s.close()
    out({"done": True, "sent": sent})


def icmp_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def icmp_echo(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    data = bytes((0x41 + i % 26) for i in range(a.size))
    hdr = struct.pack("!BBHHH", 8, 0, 0, a.ident, a.seq)
    pkt = struct.pack("!BBHHH", 8, 0, icmp_checksum(hdr + data), a.ident, a.seq) + data
    s.sendto(pkt, (a.dst, 0))
    s.settimeout(5)
    reply = None
    while reply is None:
        b, _ = s.recvfrom(65536)
        ihl = (b[0] & 15) * 4
        t, _c, _ck, ident, seq = struct.unpack("!BBHHH", b[ihl:ihl + 8])
        if t == 0 and ident == a.ident and seq == a.seq:
            reply = b
    out({"done": True, "replyLen": len(reply)})


def icmp6_echo(a):
    # The kernel fills in the ICMPv6 checksum of a raw IPPROTO_ICMPV6 socket.
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    data = bytes((0x61 + i % 26) for i in range(a.size))
    s.sendto(struct.pack("!BBHHH", 128, 0, 0, a.ident, a.seq) + data, (a.dst, 0))
    s.settimeout(5)
    while True:
        b, _ = s.recvfrom(65536)
        t, _c, _ck, ident, seq = struct.unpack("!BBHHH", b[:8])
        if t == 129 and ident == a.ident and seq == a.seq:
            break
    out({"done": True, "replyLen": len(b)})


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("udp-recv")
    r.add_argument("--family", type=int, default=4)
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--count", type=int, required=True)
    r.add_argument("--timeout", type=float, default=10)
    r.add_argument("--timestamps", action="store_true")
    s = sub.add_parser("udp-send")
    s.add_argument("--family", type=int, default=4)
    s.add_argument("--dst", required=True)
    s.add_argument("--dport", type=int, required=True)
    s.add_argument("--sport", type=int, required=True)
    s.add_argument("--src")
    s.add_argument("--data", action="append", required=True)
    s.add_argument("--ttl", type=int)
    s.add_argument("--gap", type=float, default=20)
    t = sub.add_parser("tcp-server")
    t.add_argument("--family", type=int, default=4)
    t.add_argument("--bind", required=True)
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--timeout", type=float, default=15)
    c = sub.add_parser("tcp-client")
    c.add_argument("--family", type=int, default=4)
    c.add_argument("--dst", required=True)
    c.add_argument("--dport", type=int, required=True)
    c.add_argument("--sport", type=int, required=True)
    c.add_argument("--src")
    c.add_argument("--bytes", type=int, default=0)
    c.add_argument("--chunk", type=int, default=65536)
    c.add_argument("--hold", type=float, default=0)
    i = sub.add_parser("icmp-echo")
    i.add_argument("--dst", required=True)
    i.add_argument("--ident", type=int, required=True)
    i.add_argument("--seq", type=int, required=True)
    i.add_argument("--size", type=int, required=True)
    i6 = sub.add_parser("icmp6-echo")
    i6.add_argument("--dst", required=True)
    i6.add_argument("--ident", type=int, required=True)
    i6.add_argument("--seq", type=int, required=True)
    i6.add_argument("--size", type=int, required=True)
    a = p.parse_args()
    {"udp-recv": udp_recv, "udp-send": udp_send, "tcp-server": tcp_server, "tcp-client": tcp_client, "icmp-echo": icmp_echo, "icmp6-echo": icmp6_echo}[a.cmd](a)


if __name__ == "__main__":
    main()
