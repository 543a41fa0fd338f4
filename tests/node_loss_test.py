#!/usr/bin/env python3
"""Loss: 16 elara-node processes in a fresh network namespace whose loopback
drops 5 % of UDP datagrams at random (nftables: meta l4proto udp numgen
random mod 100 < 5 drop, in an input chain); 20 broadcasts from different
nodes still reach every node exactly once.

Needs root and the ip / nft tools, outside Bazel's sandbox
(tags = ["local"]). When a precondition fails, prints "SKIPPED: reason" and
exits 0; once the namespace exists every failure is a real failure.

Usage: node_loss_test.py PATH/TO/elara-node
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import node_harness as h  # noqa: E402

NODES = 16
BROADCASTS = 20
LOSS_PERCENT = 5


def sh(args, namespace=None):
    if namespace:
        args = ["ip", "netns", "exec", namespace] + args
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def skip(reason):
    print("SKIPPED: " + reason)
    return 0


def setup_namespace(namespace):
    """Returns None when ready, else the reason it cannot be."""
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return "the %s tool is not installed (tools/setup.sh)" % tool
    r = sh(["ip", "netns", "add", namespace])
    if r.returncode != 0:
        return "ip netns add failed (sandboxed?): " + r.stderr.strip()
    steps = [
        ["ip", "link", "set", "lo", "up"],
        ["nft", "add", "table", "inet", "elara"],
        ["nft", "add chain inet elara input { type filter hook input "
         "priority 0 ; policy accept ; }"],
        ["nft", "add rule inet elara input meta l4proto udp numgen random "
         "mod 100 < %d counter drop" % LOSS_PERCENT],
    ]
    for step in steps:
        r = sh(step if len(step) > 2 else [step[0]] + step[1].split(),
               namespace)
        if r.returncode != 0:
            return "namespace setup step %s failed: %s" % (
                step, r.stderr.strip())
    return None


def dropped_packets(namespace):
    r = sh(["nft", "list", "chain", "inet", "elara", "input"], namespace)
    m = re.search(r"counter packets (\d+)", r.stdout)
    return int(m.group(1)) if m else -1


def main():
    binary = sys.argv[1]
    namespace = "elara-loss-%d" % os.getpid()
    reason = setup_namespace(namespace)
    if reason is not None:
        sh(["ip", "netns", "del", namespace])
        return skip(reason)
    swarm = None
    try:
        swarm = h.Swarm(binary, NODES, extra_args=["--no-data"],
                        prefix=["ip", "netns", "exec", namespace],
                        log_dir=os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR"))
        swarm.wait_joined(settle=0)
        # Under loss the views fill slowly (passive views come from
        # SHUFFLE); a node whose only peer is its eager parent has nobody
        # to announce (IHAVE) a lost push to it, so start from a swarm
        # where every node has a few peers (see the report on hybrid pull
        # repair).
        swarm.wait_views(min_active=3)
        ids = []
        for i in range(BROADCASTS):
            ids.append(swarm.broadcast(swarm.nodes[i % NODES],
                                       b"lossy %d" % i)["id"])
            time.sleep(0.05)
        swarm.wait_delivered(ids, swarm.nodes, timeout=120)
        time.sleep(1.0)
        problems = h.check_exactly_once(swarm.nodes, ids)
        dropped = dropped_packets(namespace)
        if dropped <= 0:
            problems.append("the loss rule dropped nothing (%d)" % dropped)
        if problems:
            swarm.dump_logs()
            print("FAIL:\n  " + "\n  ".join(problems[:30]))
            return 1
        print("%d%% UDP loss (%d datagrams dropped): %d broadcasts reached "
              "all %d nodes exactly once" % (LOSS_PERCENT, dropped,
                                             BROADCASTS, NODES))
        print("1 passed, 0 failed")
        return 0
    finally:
        if swarm is not None:
            swarm.close()
        sh(["ip", "netns", "del", namespace])


if __name__ == "__main__":
    sys.exit(main())
