"""elara_convergence_test: a convergence check of an ELARA swarm as a test.

Load it from any workspace that depends on ELARA:

    load("@elara//tools:elara_sim.bzl", "elara_convergence_test")

    elara_convergence_test(
        name = "swarm_convergence_test",
        config = "swarm.toml",          # optional elara-sim --config file
        nodes = [256, 1024, 4096, 16384],  # >= 3 sizes spanning >= 4x;
                                           # 4+ to judge the curve's shape
        seeds = 2,                      # runs per size: seed, seed+1, ...
        min_reliability = 1.0,
        args = ["--loss=0.01"],         # any other `elara-sim sweep` flags
    )

The test runs `elara-sim sweep --check` over the sizes and fails (exit 1)
when a run's reliability is below min_reliability or the last delivery hop
grows faster than log N (rule: README.md, section "The check (`sweep
--check`, `verify`)"). A failure prints the reason and the `elara-sim run
...` command that replays the worst run. The sweep's JSON report is saved
as an undeclared test output (elara_sim.json in
bazel-testlogs/<package>/<name>/test.outputs/outputs.zip or the outputs dir).
Do not pass --json in args.
"""

def elara_convergence_test(
        name,
        config = None,
        nodes = [256, 1024, 4096, 16384],
        seeds = 1,
        min_reliability = 1.0,
        args = [],
        size = "large",
        **kwargs):
    """Declares an sh_test running `elara-sim sweep --check`.

    Args:
      name: the test's name.
      config: label of a TOML file for `--config` (keys: README.md,
        section "Config file (`--config FILE`, TOML)"),
        or None. Flags in `args` override it.
      nodes: swarm sizes; at least 3, the largest >= 4x the smallest.
      seeds: runs per size (seeds --seed, --seed+1, ...).
      min_reliability: lowest reliability accepted at every run, 0..1.
      args: more `elara-sim sweep` flags (--loss=0.01, --mode=push, ...).
      size: test size; "large" (15 min timeout) or "enormous" for big sweeps.
      **kwargs: passed to sh_test (tags, timeout, flaky, ...).
    """
    binary = Label("//tools:elara-sim")
    data = [binary]
    test_args = [
        "$(rootpath %s)" % binary,
        "sweep",
        "--check",
        "--nodes=" + ",".join([str(n) for n in nodes]),
        "--seeds=%d" % seeds,
        "--min-reliability=%s" % min_reliability,
    ]
    if config != None:
        data.append(config)
        test_args.append("--config=$(rootpath %s)" % config)
    native.sh_test(
        name = name,
        srcs = [Label("//tools:elara_sim_test_runner.sh")],
        args = test_args + args,
        data = data + kwargs.pop("data", []),
        size = size,
        **kwargs
    )
