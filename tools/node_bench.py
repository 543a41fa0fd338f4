#!/usr/bin/env python3
"""Measures a real elara-node swarm on loopback and prints the figures.

Workload (one run): N elara-node processes on 127.0.0.1 join through one
seed node; after the views settle, node 1 broadcasts M messages of P bytes,
I ms apart. From each node's "deliver" events (recv_us, CLOCK_MONOTONIC,
shared by all processes on the machine) and the sender's "broadcast" acks
(sent_us):
  - convergence per message = max over nodes of (recv_us - sent_us);
    reported as median and max over messages;
  - one-hop latency = recv_us - sent_us of deliveries with hops == 1
    (p50 / p99);
  - byte overhead = (UDP payload bytes sent by all nodes during the
    broadcast window, from each node's transport.bytes_sent counter via the
    "stats" op) / ((N-1) * P * M) - 1;
  - RSS per node (VmRSS, /proc/PID/status) after the run;
  - idle CPU: utime+stime from /proc/PID/stat over --idle-seconds of a quiet
    swarm, as % of one core, mean and max over nodes;
  - datagrams/s one node processes: --flood-seconds of valid PING datagrams
    from --flood-senders Python processes at one node (which answers each
    with a PONG); reported per wall second and per CPU second of the node.
Nothing is asserted: this prints figures. Standard library only.

Usage:
  bazel build -c opt //tools:elara-node
  python3 tools/node_bench.py --binary bazel-bin/tools/elara-node --nodes 32
"""
import argparse
import json
import multiprocessing
import os
import socket
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests"))
import node_harness as h  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(q / 100.0 * (len(values) - 1)))))
    return values[k]


def stats_of(node, timeout=30):
    before = len(node.of_kind("stats"))
    node.send({"op": "stats"})
    node.wait_for(lambda ev: sum(e.get("event") == "stats" for e in ev) >
                  before, timeout, "stats")
    return node.of_kind("stats")[before]["stats"]


COUNTERS = ["transport.bytes_sent", "transport.datagrams_sent",
            "engine.gossip_sent", "engine.gossip_duplicates",
            "engine.ihave_sent", "engine.graft_sent", "engine.prune_sent",
            "engine.iwant_sent"]


def totals(nodes):
    """Sums of COUNTERS over `nodes`."""
    sums = dict.fromkeys(COUNTERS, 0)
    for node in nodes:
        stats = stats_of(node)
        for key in COUNTERS:
            sums[key] += stats[key]
    return sums


def flood(address, seconds, sender_index):
    host, port = address.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = 0x5eed0000 + sender_index
    # version 1, sender id (8 bytes LE), PING (type 8), length 8, nonce.
    datagram = bytes([1]) + struct.pack("<Q", sender) + bytes([8, 8]) + \
        struct.pack("<Q", 42)
    end = time.monotonic() + seconds
    sent = 0
    target = (host, int(port))
    while time.monotonic() < end:
        for _ in range(1000):
            try:
                sock.sendto(datagram, target)
                sent += 1
            except OSError:
                pass
    return sent


def run_workload(args, swarm):
    nodes = swarm.nodes
    sender = nodes[1]
    payload = b"x" * args.payload
    # Optional warm-up: the first broadcast of a fresh swarm also builds the
    # Plumtree (eager pushes on every link, then PRUNEs).
    warm = [swarm.broadcast(sender, b"warm-up %d" % i)["id"]
            for i in range(args.warmup_messages)]
    swarm.wait_delivered(warm, nodes, timeout=120)
    time.sleep(args.drain_seconds if warm else 0)
    before = totals(nodes)
    t_start = time.monotonic()
    acks = []
    for i in range(args.messages):
        acks.append(swarm.broadcast(sender, payload))
        time.sleep(args.interval_ms / 1000.0)
    ids = [a["id"] for a in acks]
    swarm.wait_delivered(ids, nodes, timeout=120)
    time.sleep(args.drain_seconds)
    after = totals(nodes)
    window = time.monotonic() - t_start

    sent_us = {a["id"]: a["sent_us"] for a in acks}
    convergence_ms, one_hop_ms, hops = [], [], []
    last = {mid: 0 for mid in ids}
    for node in nodes:
        for e in node.deliveries():
            if e["id"] not in sent_us:
                continue
            delay = e["recv_us"] - sent_us[e["id"]]
            last[e["id"]] = max(last[e["id"]], delay)
            hops.append(e["hops"])
            if e["hops"] == 1:
                one_hop_ms.append(delay / 1000.0)
    convergence_ms = [last[mid] / 1000.0 for mid in ids]
    useful = (len(nodes) - 1) * args.payload * args.messages
    delta = {k: after[k] - before[k] for k in COUNTERS}
    overhead = delta["transport.bytes_sent"] / float(useful) - 1
    problems = h.check_exactly_once(nodes, ids)
    return {
        "convergence_ms_median": statistics.median(convergence_ms),
        "convergence_ms_max": max(convergence_ms),
        "one_hop_ms_p50": percentile(one_hop_ms, 50),
        "one_hop_ms_p99": percentile(one_hop_ms, 99),
        "one_hop_samples": len(one_hop_ms),
        "hops_max": max(hops),
        "hops_mean": statistics.mean(hops),
        "warmup_messages": args.warmup_messages,
        "window_s": window,
        "byte_overhead": overhead,
        "window_bytes_sent": delta["transport.bytes_sent"],
        "window_datagrams_sent": delta["transport.datagrams_sent"],
        "window_gossip_sent": delta["engine.gossip_sent"],
        "window_gossip_duplicates": delta["engine.gossip_duplicates"],
        "window_ihave_sent": delta["engine.ihave_sent"],
        "window_graft_sent": delta["engine.graft_sent"],
        "window_prune_sent": delta["engine.prune_sent"],
        "window_iwant_sent": delta["engine.iwant_sent"],
        "exactly_once_problems": len(problems),
    }


def measure_idle(args, swarm):
    pids = [n.proc.pid for n in swarm.nodes]
    loops_before = [stats_of(n)["node.loop_iterations"] for n in swarm.nodes]
    sent_before = [stats_of(n)["transport.datagrams_sent"]
                   for n in swarm.nodes]
    before = [cpu_ticks(p) for p in pids]
    t0 = time.monotonic()
    time.sleep(args.idle_seconds)
    elapsed = time.monotonic() - t0
    after = [cpu_ticks(p) for p in pids]
    loops = [stats_of(n)["node.loop_iterations"] - b
             for n, b in zip(swarm.nodes, loops_before)]
    sent = [stats_of(n)["transport.datagrams_sent"] - b
            for n, b in zip(swarm.nodes, sent_before)]
    pct = [100.0 * (a - b) / CLK_TCK / elapsed for a, b in zip(after, before)]
    return {"idle_cpu_pct_mean": statistics.mean(pct),
            "idle_cpu_pct_max": max(pct), "idle_seconds": elapsed,
            "idle_wakeups_per_s_mean": statistics.mean(loops) / elapsed,
            "idle_datagrams_sent_per_s_mean": statistics.mean(sent) / elapsed}


def measure_flood(args, swarm):
    target = swarm.nodes[2]
    pid = target.proc.pid
    before = stats_of(target)
    ticks_before = cpu_ticks(pid)
    t0 = time.monotonic()
    with multiprocessing.Pool(args.flood_senders) as pool:
        sent = sum(pool.starmap(flood, [(target.addr, args.flood_seconds, i)
                                        for i in range(args.flood_senders)]))
    elapsed = time.monotonic() - t0
    time.sleep(0.5)
    after = stats_of(target)
    cpu_s = (cpu_ticks(pid) - ticks_before) / float(CLK_TCK)
    processed = after["engine.datagrams_in"] - before["engine.datagrams_in"]
    return {
        "flood_sent": sent,
        "flood_processed": processed,
        "flood_datagrams_per_s": processed / elapsed,
        "flood_node_cpu_s": cpu_s,
        "flood_datagrams_per_cpu_s": processed / cpu_s if cpu_s else 0,
        "flood_node_alive": target.alive(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--nodes", type=int, default=32)
    p.add_argument("--messages", type=int, default=20)
    p.add_argument("--payload", type=int, default=1024)
    p.add_argument("--interval-ms", type=int, default=50)
    p.add_argument("--settle-seconds", type=float, default=3.0)
    p.add_argument("--drain-seconds", type=float, default=1.0)
    p.add_argument("--warmup-messages", type=int, default=0,
                   help="broadcasts before the measured ones (tree building)")
    p.add_argument("--idle-seconds", type=float, default=30.0)
    p.add_argument("--flood-seconds", type=float, default=5.0)
    p.add_argument("--flood-senders", type=int, default=2)
    p.add_argument("--node-config", default=None,
                   help="TOML config file passed to every node (--config)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    args = p.parse_args()

    extra = ["--no-data", "--log-level", "warn"]
    if args.node_config:
        extra += ["--config", os.path.abspath(args.node_config)]
    swarm = h.Swarm(os.path.abspath(args.binary), args.nodes,
                    extra_args=extra)
    try:
        swarm.wait_joined(timeout=120, settle=args.settle_seconds)
        figures = {"nodes": args.nodes, "messages": args.messages,
                   "payload_bytes": args.payload,
                   "interval_ms": args.interval_ms}
        figures.update(run_workload(args, swarm))
        rss = [rss_kib(n.proc.pid) for n in swarm.nodes]
        figures["rss_kib_mean"] = statistics.mean(rss)
        figures["rss_kib_max"] = max(rss)
        if args.idle_seconds > 0:
            figures.update(measure_idle(args, swarm))
        if args.flood_seconds > 0:
            figures.update(measure_flood(args, swarm))
        figures["rss_kib_max_after_flood"] = max(
            rss_kib(n.proc.pid) for n in swarm.nodes)
    finally:
        swarm.close()
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print("%-28s %s" % (key, ("%.4g" % value)
                                if isinstance(value, float) else value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
