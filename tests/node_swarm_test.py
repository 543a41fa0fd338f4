#!/usr/bin/env python3
"""16 elara-node processes on 127.0.0.1 join through one seed node; 20
broadcasts from 20 different senders (node i % 16) reach every node exactly
once, with the payload intact.

Usage: node_swarm_test.py PATH/TO/elara-node
"""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import node_harness as h  # noqa: E402

NODES = 16
BROADCASTS = 20


def main():
    binary = sys.argv[1]
    swarm = h.Swarm(binary, NODES,
                    log_dir=os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR"))
    # Data is needed here to check payloads: drop --no-data.
    try:
        swarm.wait_joined()
        ids, payloads = [], {}
        for i in range(BROADCASTS):
            sender = swarm.nodes[i % NODES]
            payload = ("message %d from %s" % (i, sender.name)).encode()
            ack = swarm.broadcast(sender, payload)
            ids.append(ack["id"])
            payloads[ack["id"]] = payload
            time.sleep(0.05)
        swarm.wait_delivered(ids, swarm.nodes, timeout=60)
        time.sleep(1.0)  # room for a late duplicate to show up
        problems = h.check_exactly_once(swarm.nodes, ids)
        senders = {mid.split("/")[0] for mid in ids}
        if len(senders) != NODES:
            problems.append("expected %d distinct senders, got %d" % (
                NODES, len(senders)))
        hops = []
        for node in swarm.nodes:
            for e in node.deliveries():
                if "data" in e and base64.b64decode(e["data"]) != \
                        payloads.get(e["id"]):
                    problems.append("%s: payload of %s differs" % (
                        node.name, e["id"]))
                hops.append(e["hops"])
            if node.bad_lines:
                problems.append("%s: non-JSON stdout lines: %r" % (
                    node.name, node.bad_lines[:3]))
        if problems:
            swarm.dump_logs()
            print("FAIL:\n  " + "\n  ".join(problems[:30]))
            return 1
        print("%d nodes, %d broadcasts: every node delivered every message "
              "exactly once; max hops %d" % (NODES, BROADCASTS, max(hops)))
        # Clean exit on SIGTERM for everyone.
        codes = [n.terminate() for n in swarm.nodes]
        if any(c != 0 for c in codes):
            print("FAIL: exit codes after SIGTERM: %s" % codes)
            return 1
        print("1 passed, 0 failed")
        return 0
    finally:
        swarm.close()


if __name__ == "__main__":
    sys.exit(main())
