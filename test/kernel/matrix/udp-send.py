#!/usr/bin/env python3
# udp-send.py HOST PORT COUNT PRIORITY -> {"sent": N}: COUNT datagrams "i" from one socket
# with SO_PRIORITY set (Python starts fast under emulation).
import json
import socket
import sys

host, port, count, priority = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, priority)
for i in range(count):
    s.sendto(str(i).encode(), (host, port))
print(json.dumps({'sent': count}), flush=True)
