"""Drives real elara-node processes for the multi-process tests and the
benchmark: start, read their JSON-lines stdout on a thread each, send
control lines, wait for conditions with a deadline, kill.

Standard library only. Every wait has a deadline; a wait that times out
raises TimeoutError with what was missing, so a test fails with a reason.
"""
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class NodeProc:
    """One elara-node process."""

    def __init__(self, argv, name, log_dir, prefix=None):
        self.name = name
        self.argv = list(prefix or []) + list(argv)
        self.stderr_path = os.path.join(log_dir, name + ".stderr")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, bufsize=0)
        self.events = []           # every parsed stdout line, in order
        self.bad_lines = []        # stdout lines that were not JSON
        self.cond = threading.Condition()
        self.eof = False
        self.id = None
        self.addr = None
        self.metrics = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                event = json.loads(line)
            except ValueError:
                with self.cond:
                    self.bad_lines.append(line)
                continue
            with self.cond:
                self.events.append(event)
                if event.get("event") == "ready":
                    self.id = event["id"]
                    self.addr = event["addr"]
                    self.metrics = event.get("metrics")
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, predicate, timeout, what):
        """Waits until predicate(self.events) is true (under the lock)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                if left <= 0 or (self.eof and not predicate(self.events)):
                    raise TimeoutError("%s: %s (eof=%s)" % (
                        self.name, what, self.eof))
                self.cond.wait(min(left, 0.5))

    def wait_ready(self, timeout=30):
        self.wait_for(lambda ev: self.addr is not None, timeout, "ready")

    def send(self, obj):
        self.send_raw((json.dumps(obj) + "\n").encode())

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def broadcast(self, payload):
        self.send({"op": "broadcast",
                   "data": base64.b64encode(payload).decode()})

    def request(self, obj, answer, timeout=30):
        """Sends a control line and returns its answer: the next `answer`
        event, or the next `error` event (control lines are answered in
        order, one line each)."""
        kinds = (answer, "error")
        with self.cond:
            before = sum(e.get("event") in kinds for e in self.events)
        self.send(obj)
        self.wait_for(lambda ev: sum(e.get("event") in kinds
                                     for e in ev) > before,
                      timeout, "an answer to %s" % json.dumps(obj)[:80])
        with self.cond:
            return [e for e in self.events
                    if e.get("event") in kinds][before]

    def set_state(self, key, value, timeout=30):
        """{"op":"set"}; returns the `set` or `error` event."""
        return self.request({"op": "set", "key": key,
                             "value": base64.b64encode(value).decode()},
                            "set", timeout)

    def get_state(self, key, timeout=30):
        """{"op":"get"}; returns (value bytes or None, the event)."""
        event = self.request({"op": "get", "key": key}, "get", timeout)
        if event.get("event") != "get" or not event.get("found"):
            return None, event
        return base64.b64decode(event["value"]), event

    def stats(self, timeout=30):
        """{"op":"stats"}; returns the flat stats dict."""
        return self.request({"op": "stats"}, "stats", timeout)["stats"]

    def of_kind(self, kind):
        with self.cond:
            return [e for e in self.events if e.get("event") == kind]

    def deliveries(self):
        return self.of_kind("deliver")

    def alive(self):
        return self.proc.poll() is None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout=10):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def close(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        self._stderr.close()

    def stderr_tail(self, lines=15):
        try:
            with open(self.stderr_path, "rb") as f:
                text = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(text[-lines:])
        except OSError:
            return ""


class Swarm:
    """N nodes on 127.0.0.1 that join through node 0 (the seed)."""

    def __init__(self, binary, n, extra_args=(), prefix=None, log_dir=None,
                 name="node"):
        self.binary = binary
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="elara-swarm-")
        self.extra_args = list(extra_args)
        self.prefix = prefix
        self.nodes = []
        seed = self._start(0, [])
        seed.wait_ready()
        for i in range(1, n):
            self._start(i, ["--join", seed.addr])
        for node in self.nodes:
            node.wait_ready()
        self.name = name

    def _start(self, i, args):
        argv = [self.binary, "--bind", "127.0.0.1:0"] + \
            args + self.extra_args
        node = NodeProc(argv, "node%02d" % i, self.log_dir, self.prefix)
        self.nodes.append(node)
        return node

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def wait_joined(self, timeout=60, settle=1.0):
        """Every live node has at least one peer up; then lets views fill."""
        for node in self.live():
            node.wait_for(lambda ev: any(e.get("event") == "peer_up"
                                         for e in ev), timeout, "a peer_up")
        time.sleep(settle)

    def active_view_sizes(self, timeout=30):
        """Asks every live node for its views ("peers" op)."""
        sizes = {}
        for node in self.live():
            before = len(node.of_kind("peers"))
            node.send({"op": "peers"})
            node.wait_for(lambda ev: sum(e.get("event") == "peers"
                                         for e in ev) > before,
                          timeout, "peers answer")
            sizes[node.name] = len(node.of_kind("peers")[before]["active"])
        return sizes

    def wait_views(self, min_active, timeout=90):
        """Until every live node has at least `min_active` active peers."""
        deadline = time.monotonic() + timeout
        while True:
            sizes = self.active_view_sizes()
            short = {k: v for k, v in sizes.items() if v < min_active}
            if not short:
                return sizes
            if time.monotonic() > deadline:
                raise TimeoutError("active views below %d after %ds: %s" % (
                    min_active, timeout, short))
            time.sleep(0.5)

    def broadcast(self, node, payload, timeout=30):
        """Broadcasts from `node`; returns its ack (with the message id)."""
        acks_before = len(node.of_kind("broadcast"))
        errors_before = len(node.of_kind("error"))

        def answered(ev):
            acks = sum(e.get("event") == "broadcast" for e in ev)
            errors = sum(e.get("event") == "error" for e in ev)
            return acks > acks_before or errors > errors_before

        node.broadcast(payload)
        node.wait_for(answered, timeout, "broadcast ack")
        acks = node.of_kind("broadcast")
        if len(acks) <= acks_before:
            raise AssertionError("%s: broadcast refused: %s" % (
                node.name, node.of_kind("error")[-1:]))
        return acks[acks_before]

    def wait_delivered(self, ids, nodes, timeout=60):
        """Every node in `nodes` delivered every id in `ids`; on timeout
        raises TimeoutError naming what each node misses."""
        ids = set(ids)
        deadline = time.monotonic() + timeout
        for node in nodes:
            try:
                node.wait_for(
                    lambda ev: ids <= {e.get("id") for e in ev
                                       if e.get("event") == "deliver"},
                    max(deadline - time.monotonic(), 0.1),
                    "deliveries of %d ids" % len(ids))
            except TimeoutError:
                missing = []
                for n in nodes:
                    got = {e.get("id") for e in n.deliveries()}
                    if not ids <= got:
                        missing.append("%s (%s) misses %s" % (
                            n.name, n.id, sorted(ids - got)))
                self.dump_logs()
                raise TimeoutError("not delivered within %ds:\n  %s" % (
                    timeout, "\n  ".join(missing)))

    def close(self):
        for node in self.nodes:
            node.close()

    def dump_logs(self, lines=10):
        for node in self.nodes:
            log("---- %s (%s) alive=%s" % (node.name, node.id, node.alive()))
            log(node.stderr_tail(lines))
            if node.alive():
                log(self._views_line(node))

    # What a failed wait needs to tell a node that knew no live peer from
    # one that was refused or never asked: its views now and the
    # membership counters. Best effort, with a short deadline each.
    VIEW_STATS = ("engine.rejoins", "engine.peers_down",
                  "engine.unknown_sender_frames", "engine.datagrams_in")

    def _views_line(self, node):
        try:
            peers = node.request({"op": "peers"}, "peers", timeout=3)
            stats = node.stats(timeout=3)
        except (TimeoutError, OSError, ValueError) as e:
            return "  views: unavailable (%s)" % e
        def ids(view):
            return [p.get("peer") for p in peers.get(view, [])]
        counters = " ".join("%s=%s" % (k.split(".", 1)[1], stats.get(k))
                            for k in self.VIEW_STATS)
        return "  active %s passive %s %s" % (ids("active"), ids("passive"),
                                              counters)


def count_per_id(node):
    counts = {}
    for e in node.deliveries():
        counts[e["id"]] = counts.get(e["id"], 0) + 1
    return counts


class Checks:
    """Counts passed checks and records failed ones (printed at once)."""

    def __init__(self):
        self.passed = 0
        self.failures = []

    def __call__(self, condition, what):
        if condition:
            self.passed += 1
        else:
            self.failures.append(what)
            print("FAIL: " + what, flush=True)

    def summary(self):
        """Prints the tally; returns the process exit code."""
        print("%d passed, %d failed" % (self.passed, len(self.failures)))
        return 1 if self.failures else 0


def check_exactly_once(nodes, ids):
    """Returns a list of problems (empty when every node has every id once)."""
    problems = []
    for node in nodes:
        counts = count_per_id(node)
        for mid in ids:
            if counts.get(mid, 0) != 1:
                problems.append("%s delivered %s %d times" % (
                    node.name, mid, counts.get(mid, 0)))
    return problems
