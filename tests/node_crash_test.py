#!/usr/bin/env python3
"""Crash: 16 elara-node processes join through one seed; after a first round
of broadcasts reaches everyone, a third of them (5, the seed among them) are
killed with SIGKILL; broadcasts sent afterwards by survivors still reach
every survivor exactly once.

Usage: node_crash_test.py PATH/TO/elara-node
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import node_harness as h  # noqa: E402

NODES = 16
KILLED = [0, 3, 6, 9, 12]  # a third, the seed included


def main():
    binary = sys.argv[1]
    swarm = h.Swarm(binary, NODES, extra_args=["--no-data"],
                    log_dir=os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR"))
    try:
        swarm.wait_joined()
        before = [swarm.broadcast(swarm.nodes[i], b"before %d" % i)["id"]
                  for i in (1, 5, 10)]
        swarm.wait_delivered(before, swarm.nodes)
        problems = h.check_exactly_once(swarm.nodes, before)

        for i in KILLED:
            swarm.nodes[i].kill9()
        survivors = swarm.live()
        assert len(survivors) == NODES - len(KILLED), len(survivors)
        after = []
        for k, node in enumerate(survivors):
            after.append(swarm.broadcast(node, b"after %d" % k)["id"])
            time.sleep(0.1)
        swarm.wait_delivered(after, survivors, timeout=90)
        time.sleep(1.0)
        problems += h.check_exactly_once(survivors, after)
        downs = sum(len([e for e in n.of_kind("peer_down")])
                    for n in survivors)
        if downs == 0:
            problems.append("no survivor reported a peer_down")
        if problems:
            swarm.dump_logs()
            print("FAIL:\n  " + "\n  ".join(problems[:30]))
            return 1
        print("killed %d of %d; %d broadcasts after the crash reached all %d "
              "survivors exactly once (%d peer_down events)" % (
                  len(KILLED), NODES, len(after), len(survivors), downs))
        print("1 passed, 0 failed")
        return 0
    finally:
        swarm.close()


if __name__ == "__main__":
    sys.exit(main())
