#!/usr/bin/env python3
"""Keyed state across elara-node processes on 127.0.0.1: a key set on one
node is returned by "get" on every other node; two nodes writing the same
key at once end with the same value (and version) everywhere, the one with
the greater version; a delete reaches everyone; receivers print
"state_changed" lines; bad state ops are answered by error lines and the
node goes on.

Usage: node_state_test.py PATH/TO/elara-node
"""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import node_harness as h  # noqa: E402

NODES = 5
TIMEOUT = 30  # seconds for a write to reach every node
check = h.Checks()


def version_key(version):
    """Versions order by (wall_us, logical, origin as a number)."""
    return (version["wall_us"], version["logical"],
            int(version["origin"], 16))


def wait_all_agree(nodes, key, expect, timeout=TIMEOUT):
    """Polls `get` on every node until each returns `expect` (None: not
    found) with one common version. Returns {name: get event}, or raises
    TimeoutError naming what each node holds."""
    deadline = time.monotonic() + timeout
    while True:
        answers = {n.name: n.get_state(key) for n in nodes}
        values = {name: value for name, (value, _) in answers.items()}
        versions = {str(event.get("version")) for _, event in answers.values()}
        if all(v == expect for v in values.values()) and len(versions) == 1:
            return {name: event for name, (_, event) in answers.items()}
        if time.monotonic() > deadline:
            raise TimeoutError("key %d after %ds: want %r, nodes hold %r" % (
                key, timeout, expect, values))
        time.sleep(0.1)


def test_set_reaches_everyone(swarm):
    writer, others = swarm.nodes[0], swarm.nodes[1:]
    ack = writer.set_state(1, b"hello state")
    check(ack.get("event") == "set" and ack.get("key") == 1 and
          ack.get("bytes") == 11, "set is acknowledged: %r" % ack)
    check(ack.get("version", {}).get("origin") == writer.id,
          "the writer's version names it: %r" % ack)
    # Version times are wall-clock microseconds (the node aligns its HLC).
    wall_us = ack.get("version", {}).get("wall_us", 0)
    check(abs(wall_us - time.time() * 1e6) < 60e6,
          "set version is wall time (%d vs %d)" % (wall_us, time.time() * 1e6))
    events = wait_all_agree(others, 1, b"hello state")
    check(all(e["version"] == ack["version"] for e in events.values()),
          "every node holds the writer's version")
    for node in others:
        changes = [e for e in node.of_kind("state_changed")
                   if e.get("key") == 1]
        check(changes and base64.b64decode(changes[-1]["value"]) ==
              b"hello state" and not changes[-1]["deleted"],
              "%s printed state_changed for key 1: %r" % (
                  node.name, changes[-1:]))
    check(not [e for e in writer.of_kind("state_changed")
               if e.get("key") == 1],
          "the writer prints no state_changed for its own write")


def test_concurrent_writes_converge(swarm):
    for round_, (i, j) in enumerate([(1, 3), (2, 4), (0, 4)]):
        key = 100 + round_
        a, b = swarm.nodes[i], swarm.nodes[j]
        # Both lines go out before either answer is read.
        a.send({"op": "set", "key": key,
                "value": base64.b64encode(b"from " + a.name.encode())
                .decode()})
        b.send({"op": "set", "key": key,
                "value": base64.b64encode(b"from " + b.name.encode())
                .decode()})
        acks = []
        for node in (a, b):
            node.wait_for(lambda ev: any(e.get("event") == "set" and
                                         e.get("key") == key for e in ev),
                          TIMEOUT, "set ack of key %d" % key)
            acks += [e for e in node.of_kind("set") if e.get("key") == key]
        winner = max(acks, key=lambda e: version_key(e["version"]))
        expect = b"from " + (a if winner is acks[0] else b).name.encode()
        events = wait_all_agree(swarm.nodes, key, expect)
        check(all(e["version"] == winner["version"] for e in events.values()),
              "key %d: every node holds the greater version %r" % (
                  key, winner["version"]))


def test_delete_reaches_everyone(swarm):
    ack = swarm.nodes[2].request({"op": "delete", "key": 1}, "delete")
    check(ack == {"event": "delete", "key": 1}, "delete acknowledged: %r" % ack)
    wait_all_agree(swarm.nodes, 1, None)
    for node in swarm.nodes[:2] + swarm.nodes[3:]:
        check(any(e.get("key") == 1 and e.get("deleted")
                  for e in node.of_kind("state_changed")),
              "%s printed the delete" % node.name)


def test_same_digest_everywhere(swarm):
    deadline = time.monotonic() + TIMEOUT
    while True:
        stats = [n.stats() for n in swarm.nodes]
        digests = {s["state.digest"] for s in stats}
        if len(digests) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(len(digests) == 1, "one state digest everywhere: %r" % digests)
    check(all(s["state.keys"] == 3 for s in stats),
          "3 live keys everywhere: %r" % [s["state.keys"] for s in stats])
    check(sum(s["engine.state_writes"] for s in stats) == 8,
          "8 local writes in all: %r" % [s["engine.state_writes"]
                                         for s in stats])


def test_bad_state_ops(swarm):
    node = swarm.nodes[3]
    too_big = b"x" * 5000  # over the value bound (1024 by default)
    bad = [
        ({"op": "set", "value": "aGk="}, 'set: missing "key"'),
        ({"op": "set", "key": -3, "value": "aGk="}, 'set: "key" must be'),
        ({"op": "set", "key": "7", "value": "aGk="}, 'set: "key" must be'),
        ({"op": "set", "key": 7}, 'set: missing "value"'),
        ({"op": "set", "key": 7, "value": "@@"}, "not valid base64"),
        ({"op": "set", "key": 7,
          "value": base64.b64encode(too_big).decode()}, "exceeds the bound"),
        ({"op": "get", "key": 1.5}, 'get: "key" must be'),
        ({"op": "delete"}, 'delete: missing "key"'),
    ]
    for line, message in bad:
        answer = node.request(line, "set")  # any other answer is an error
        check(answer.get("event") == "error" and
              message in answer.get("error", ""),
              "%r -> error naming %r (got %r)" % (line, message, answer))
    value, event = node.get_state(7)
    check(value is None and event.get("found") is False,
          "refused writes left nothing: %r" % event)
    check(node.alive(), "node alive after bad state ops")


def main():
    binary = sys.argv[1]
    swarm = h.Swarm(binary, NODES,
                    log_dir=os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR"))
    try:
        swarm.wait_joined()
        for test in (test_set_reaches_everyone,
                     test_concurrent_writes_converge,
                     test_delete_reaches_everyone,
                     test_same_digest_everywhere,
                     test_bad_state_ops):
            try:
                test(swarm)
            except TimeoutError as e:
                check(False, "%s: %s" % (test.__name__, e))
        for node in swarm.nodes:
            check(not node.bad_lines, "%s: non-JSON stdout lines: %r" % (
                node.name, node.bad_lines[:3]))
        codes = [n.terminate() for n in swarm.nodes]
        check(all(c == 0 for c in codes), "exit 0 on SIGTERM: %s" % codes)
        if check.failures:
            swarm.dump_logs()
    finally:
        swarm.close()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
