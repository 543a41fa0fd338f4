#!/usr/bin/env python3
"""elara-node as a process: identity key file (created 0600, stable id,
refused at 0644, malformed), exit codes and messages of bad flags and config
files, SIGTERM/SIGINT and "leave" (exit 0 with a final stats line), EOF on
stdin (keeps running unless --exit-on-eof).

Usage: node_cli_process_test.py PATH/TO/elara-node
"""
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import node_harness as h  # noqa: E402

check = h.Checks()


def run(binary, args, stdin=b"", timeout=30):
    """Runs to completion; returns (code, stdout events, stderr text)."""
    p = subprocess.run([binary] + args, input=stdin, capture_output=True,
                       timeout=timeout)
    events = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"event": "NOT-JSON", "line": line})
    return p.returncode, events, p.stderr.decode("utf-8", "replace")


def test_identity(binary, tmp):
    key = os.path.join(tmp, "node.key")
    code, events, err = run(binary, ["--identity", key, "--exit-on-eof"])
    check(code == 0, "first run with a new key file exits 0 (got %d: %s)" % (
        code, err))
    check(os.path.exists(key), "key file created")
    mode = stat.S_IMODE(os.stat(key).st_mode)
    check(mode == 0o600, "key file mode is 0600 (got %04o)" % mode)
    first_id = events[0].get("id") if events else None
    check(events and events[0]["event"] == "ready", "ready event first")
    with open(key) as f:
        text = f.read()
    check("ed25519_seed = " in text and "ed25519_public = " in text,
          "key file has seed and public key")
    code, events, _ = run(binary, ["--identity", key, "--exit-on-eof"])
    check(code == 0 and events and events[0].get("id") == first_id,
          "second run keeps the node id")

    os.chmod(key, 0o644)
    code, events, err = run(binary, ["--identity", key, "--exit-on-eof"])
    check(code == 1, "key file 0644 is refused with exit 1 (got %d)" % code)
    check(key in err and "0644" in err,
          "refusal names the file and the mode: %r" % err[-300:])
    check(not any(e.get("event") == "ready" for e in events),
          "no ready event when the key is refused")

    bad = os.path.join(tmp, "bad.key")
    with open(bad, "w") as f:
        f.write("ed25519_seed = 1234\n")
    os.chmod(bad, 0o600)
    code, _, err = run(binary, ["--identity", bad, "--exit-on-eof"])
    check(code == 1 and "malformed" in err and bad in err,
          "malformed key file: exit 1 naming the file: %r" % err[-300:])


def test_usage_errors(binary, tmp):
    cases = [
        (["--event-buffer-size", "0"], "--event-buffer-size"),
        (["--max-peers", "99999999"], "--max-peers"),
        (["--bind", "300.1.1.1:5"], "--bind"),
        (["--join", "127.0.0.1:70000"], "--join"),
        (["--log-level", "loud"], "--log-level"),
        (["--mode", "flood"], "--mode"),
        (["--no-such-flag"], "--no-such-flag"),
    ]
    for args, flag in cases:
        code, _, err = run(binary, args)
        check(code == 2 and flag in err,
              "%s: exit 2 naming %s (got %d: %r)" % (args, flag, code,
                                                     err[-200:]))
    code, _, err = run(binary, ["--event-buffer-size", "0"])
    check("16777216" in err, "range is named: %r" % err[-200:])

    config = os.path.join(tmp, "node.toml")
    with open(config, "w") as f:
        f.write('bind = "127.0.0.1:0"\n[engine]\nactive_view_size = 4\n'
                'colour = "blue"\n')
    code, _, err = run(binary, ["--config", config])
    check(code == 2 and "colour" in err and "node.toml:4" in err,
          "unknown config key: exit 2 naming key and line: %r" % err[-300:])
    with open(config, "w") as f:
        f.write('max_peers = "many"\n')
    code, _, err = run(binary, ["--config", config])
    check(code == 2 and "max_peers" in err, "wrong type: %r" % err[-200:])
    with open(config, "w") as f:
        f.write('[engine]\nactive_view_size = 0\n')
    code, _, err = run(binary, ["--config", config])
    check(code == 2 and "active_view_size" in err,
          "engine range error: %r" % err[-200:])
    # A valid config is applied (event buffer visible in the stats line).
    with open(config, "w") as f:
        f.write('event_buffer_size = 77\nlog_level = "warn"\n'
                '[engine]\nmode = "push"\nkeep_alive_interval_ms = 500\n'
                'probe_timeout_ms = 1500\n')
    code, events, err = run(binary, ["--config", config, "--exit-on-eof"])
    check(code == 0 and "listening" not in err,
          "valid config runs (log_level warn hides info): %d %r" % (
              code, err[-200:]))
    code, _, out_help = run(binary, ["--help"])
    check(code == 0, "--help exits 0")


def test_signals_and_eof(binary, tmp):
    for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
        node = h.NodeProc([binary, "--bind", "127.0.0.1:0"], "sig-" + name,
                          tmp)
        try:
            node.wait_ready()
            node.proc.stdin.close()  # EOF: must not stop the node
            time.sleep(0.5)
            check(node.alive(), "%s: node survives EOF on stdin" % name)
            node.proc.send_signal(sig)
            code = node.proc.wait(10)
            node.wait_for(lambda ev: any(e.get("event") == "exit"
                                         for e in ev), 10, "exit event")
            exit_event = node.of_kind("exit")[-1]
            check(code == 0, "%s: exit 0 (got %d)" % (name, code))
            check(exit_event.get("reason") == name,
                  "%s: exit reason %r" % (name, exit_event))
            check(len(node.of_kind("stats")) == 1, "%s: final stats" % name)
        finally:
            node.close()

    node = h.NodeProc([binary, "--bind", "127.0.0.1:0"], "leave", tmp)
    try:
        node.wait_ready()
        node.send({"op": "stats"})
        node.send({"op": "peers"})
        node.send({"op": "leave"})
        code = node.proc.wait(10)
        node.wait_for(lambda ev: any(e.get("event") == "exit" for e in ev),
                      10, "exit event")
        kinds = [e["event"] for e in node.events]
        check(code == 0 and kinds[-1] == "exit" and
              node.of_kind("exit")[0]["reason"] == "leave",
              "leave op: exit 0, reason leave (%d, %s)" % (code, kinds))
        check("peers" in kinds and kinds.count("stats") == 2,
              "stats and peers ops answer: %s" % kinds)
    finally:
        node.close()


def main():
    binary = sys.argv[1]
    tmp = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
    tmp = tempfile.mkdtemp(dir=tmp)
    test_identity(binary, tmp)
    test_usage_errors(binary, tmp)
    test_signals_and_eof(binary, tmp)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
