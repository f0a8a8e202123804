#!/usr/bin/env python3
# One connection through the namespace's loopback, both ends in this process, so the
# conntrack tests need one short-lived helper per flow (Python starts fast under emulation).
#   flow.py udp|tcp HOST PORT  -> {"client": CLIENT_PORT, "server": PORT, "done": true}
# UDP: "one" from the client, the server's "echo" back, then "two": the second datagram
# travels an ESTABLISHED connection that has seen a reply. TCP: connect, "one", "echo",
# "two", close.
import json
import socket
import sys

proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ':' in host else socket.AF_INET
TIMEOUT = 60

if proto == 'udp':
    server = socket.socket(family, socket.SOCK_DGRAM)
    server.settimeout(TIMEOUT)
    server.bind((host, port))
    client = socket.socket(family, socket.SOCK_DGRAM)
    client.settimeout(TIMEOUT)
    client.sendto(b'one', (host, port))
    _, peer = server.recvfrom(100)
    server.sendto(b'echo', peer)
    client.recvfrom(100)
    client.sendto(b'two', (host, port))
    server.recvfrom(100)
    client_port = client.getsockname()[1]
else:
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.settimeout(TIMEOUT)
    listener.bind((host, port))
    listener.listen(1)
    client = socket.create_connection((host, port), timeout=TIMEOUT)
    conn, _ = listener.accept()
    conn.settimeout(TIMEOUT)
    client.sendall(b'one')
    conn.recv(100)
    conn.sendall(b'echo')
    client.recv(100)
    client.sendall(b'two')
    conn.recv(100)
    client_port = client.getsockname()[1]
    client.close()
    conn.close()
print(json.dumps({'client': client_port, 'server': port, 'done': True}), flush=True)
