#!/usr/bin/env python3
# UDP from several loopback sources to one sink in this same process (Python starts fast
# under emulation).
#   udp-burst.py HOST PORT FIRST_SOURCE SOURCES COUNT WAIT_S
#     -> {"sent": N, "refused": R, "received": M, "from": {source: count}}
# Datagram j from source i says "i.j". The sink waits until WAIT_S seconds pass without a
# datagram. A send the kernel refuses (a queue drop in OUTPUT answers EPERM) counts as refused.
import ipaddress
import json
import socket
import sys

host, port, first, sources, count, wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind((host, port))
sink.settimeout(wait)
sent = refused = 0
for i in range(sources):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((str(ipaddress.ip_address(first) + i), 0))
    for j in range(count):
        try:
            s.sendto(f'{i}.{j}'.encode(), (host, port))
            sent += 1
        except OSError:
            refused += 1
    s.close()
received = {}
try:
    while True:
        _, (src, _) = sink.recvfrom(100)
        received[src] = received.get(src, 0) + 1
except socket.timeout:
    pass
print(json.dumps({'sent': sent, 'refused': refused, 'received': sum(received.values()), 'from': received}), flush=True)
