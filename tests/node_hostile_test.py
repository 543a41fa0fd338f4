#!/usr/bin/env python3
"""Hostile input at a running elara-node: random bytes, truncated and
oversized datagrams sent to its UDP port, and malformed control lines on its
stdin. Each bad datagram is counted (read back from --metrics and from the
final stats line) and dropped; each bad control line yields one error event;
the node keeps delivering.

Usage: node_hostile_test.py PATH/TO/elara-node
"""
import os
import random
import re
import socket
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import node_harness as h  # noqa: E402

NODES = 4
MAX_DATAGRAM = 1452  # the engine's default max_datagram_bytes


def metrics(node):
    with urllib.request.urlopen("http://%s/metrics" % node.metrics,
                                timeout=10) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def hostile_datagrams(rng, sender_id):
    """(random, truncated, oversized) lists of byte strings."""
    randoms = []
    for i in range(60):
        n = rng.randint(1, 1400)
        data = bytearray(rng.getrandbits(8) for _ in range(n))
        if i % 2 == 0:
            data[0] = 1  # the wire version: gets past the first check
        elif data[0] == 1:
            data[0] = 0xff
        randoms.append(bytes(data))
    sender = bytes.fromhex(sender_id)[::-1]
    truncated = [
        b"\x01",                                   # version only
        b"\x01" + sender[:5],                      # half a sender id
        b"\x01" + sender + b"\x10",                # frame type, no length
        b"\x01" + sender + b"\x10\x20" + b"x" * 5,  # length past the end
    ]
    oversized = [b"\x01" + b"y" * (MAX_DATAGRAM + 1 - 1),  # one byte too many
                 b"z" * 9000]
    assert len(oversized[0]) == MAX_DATAGRAM + 1
    return randoms, truncated, oversized


def main():
    binary = sys.argv[1]
    swarm = h.Swarm(binary, NODES, extra_args=["--metrics", "127.0.0.1:0"],
                    log_dir=os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR"))
    problems = []
    try:
        swarm.wait_joined()
        target = swarm.nodes[1]
        before = metrics(target)
        rng = random.Random(20240601)
        randoms, truncated, oversized = hostile_datagrams(rng, "0" * 16)
        host, port = target.addr.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for data in randoms + truncated + oversized:
            sock.sendto(data, (host, int(port)))
        bad = len(randoms) + len(truncated)

        # Malformed control lines: one error event each, no crash.
        bad_lines = [b"garbage\n", b"{}\n", b"[1,2]\n", b'{"op":5}\n',
                     b'{"op":"fly"}\n', b'{"op":"broadcast"}\n',
                     b'{"op":"broadcast","data":"!!!"}\n',
                     b'{"op":"join","addr":"nowhere"}\n',
                     b"\xff\xfe{\x00\n", b"{" * 5000 + b"\n",
                     b"x" * 300000 + b"\n"]
        for line in bad_lines:
            target.send_raw(line)
        target.wait_for(lambda ev: sum(e.get("event") == "error"
                                       for e in ev) >= len(bad_lines),
                        30, "error events")

        # Still delivering, from and to the attacked node.
        ids = [swarm.broadcast(target, b"after the attack")["id"],
               swarm.broadcast(swarm.nodes[2], b"to the attacked")["id"]]
        swarm.wait_delivered(ids, swarm.nodes)
        after = metrics(target)

        def delta(name):
            return after.get(name, 0) - before.get(name, 0)

        got_bad = delta('elara_drops_total{cause="bad_datagram"}')
        got_trunc = delta("elara_transport_receive_truncated_total")
        if got_bad != bad:
            problems.append("bad_datagram drops: expected %d, got %d" % (
                bad, got_bad))
        if got_trunc != len(oversized):
            problems.append("receive_truncated: expected %d, got %d" % (
                len(oversized), got_trunc))
        by_error = sum(v for k, v in after.items()
                       if k.startswith("elara_bad_datagrams_total{"))
        if by_error != after['elara_drops_total{cause="bad_datagram"}']:
            problems.append("bad datagrams by error do not add up")
        if delta('elara_bad_datagrams_total{error="truncated"}') < \
                len(truncated):
            problems.append("truncated datagrams not counted as truncated")
        errors = target.of_kind("error")
        if len(errors) != len(bad_lines):
            problems.append("expected %d error events, got %d: %s" % (
                len(bad_lines), len(errors), [e["error"] for e in errors]))
        if not target.alive():
            problems.append("the attacked node died")

        # The final stats line carries the same counts.
        code = target.terminate()
        target.wait_for(lambda ev: any(e.get("event") == "exit" for e in ev),
                        10, "exit event")
        stats = target.of_kind("stats")[-1]["stats"]
        if code != 0:
            problems.append("exit code %d after SIGTERM" % code)
        if stats["engine.bad_datagrams"] != \
                after['elara_drops_total{cause="bad_datagram"}']:
            problems.append("stats line and metrics disagree")
        if stats["transport.receive_truncated"] < len(oversized):
            problems.append("stats line: receive_truncated too small")
        if problems:
            swarm.dump_logs()
            print("FAIL:\n  " + "\n  ".join(problems))
            return 1
        print("%d bad and %d oversized datagrams counted and dropped; %d "
              "malformed control lines answered with errors; deliveries go "
              "on" % (bad, len(oversized), len(bad_lines)))
        print("1 passed, 0 failed")
        return 0
    finally:
        swarm.close()


if __name__ == "__main__":
    sys.exit(main())
