// elara-sim (sim_cli.h): CLI11 wiring, scenario assembly, the run and sweep
// loops, timing and output. CLI11 only collects the flags' raw text; every
// value is parsed by the shared settings table (sim_cli_options.h) so flags
// and config files accept exactly the same forms.
#include "tools/sim_cli.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/scenario_flags.h"
#include "sim/simulator.h"
#include "tools/sim_cli_check.h"
#include "tools/sim_cli_options.h"
#include "tools/sim_cli_report.h"

namespace elara::tools {
namespace {

using sim::Scenario;

constexpr uint32_t kMaxSeeds = 1000;

constexpr char kRunFooter[] = R"(Examples:
  elara-sim run --nodes 10000 --loss 0.01 --broadcasts 20
  elara-sim run --nodes 100000 --seed 7 --mode hybrid --broadcasts 20 \
      --payload-bytes 1024 --loss 0.01 --latency-ms 10:80 \
      --partition 0.5@10s-30s --crash 0.2@5s
  elara-sim run --config swarm.toml --seed 3 --json result.json
  elara-sim run --nodes 2000 --json - | jq .trace_hash
  elara-sim run --nodes 10000 --broadcasts 0 --state-writes-per-s 200 \
      --state-keys 1000 --partition 0.5@5s-20s --json - | \
      jq .state_convergence_ms

Flags override the --config file, which overrides the defaults. DUR is an
integer with a unit: 1500us, 250ms, 2s. Times of faults count from the start
of the run (the first broadcast is at --warmup, after --join-spread with
--bootstrap protocol). The summary table goes to stdout (to stderr with
--json -); a progress bar to stderr when it is a terminal. --quiet drops
both. Exit codes: 0 ok, 1 --check failed, 2 bad input. Config file keys,
JSON fields and the check rule: README.md, section
"The main job: simulate a swarm with `elara-sim`".)";

constexpr char kSweepFooter[] = R"(Examples:
  elara-sim sweep --nodes 256,1024,4096,16384 --seeds 3 --loss 0.01
  elara-sim sweep --nodes 256,1024,4096,16384 --seeds 2 --check --json sweep.json
  elara-sim verify --config swarm.toml --nodes 1024,4096,16384,65536

Runs every size with seeds --seed, --seed+1, ... (--seeds of them), prints
one row per size (means; reliability is the lowest) and the least-squares
fit LDH = a*log2(N) + b. --check (implied by `verify`) fails (exit 1) when a
run's reliability is below --min-reliability or LDH grows faster than log N:
it needs >= 3 sizes spanning >= 4x, and >= 4 sizes to judge the curve's
shape (sqrt(N) on a large constant). A failure prints the command and seed
that replay the worst run. Exit codes: 0 ok, 1 check failed, 2 bad input.
The rule and the JSON schema: README.md, section
"The main job: simulate a swarm with `elara-sim`".)";

constexpr char kTopFooter[] =
    R"(Run `elara-sim run --help` or `elara-sim sweep --help` for the flags.
Examples:
  elara-sim run --nodes 10000 --loss 0.01 --broadcasts 20
  elara-sim sweep --nodes 256,1024,4096,16384 --seeds 3 --check
Exit codes: 0 ok, 1 check failed, 2 bad input.)";

// The CLI11 options of one subcommand.
struct Options {
  CLI::App* app = nullptr;
  std::vector<CLI::Option*> settings;  // parallel to Settings(); may be null
  CLI::Option* nodes_list = nullptr;   // sweep
  CLI::Option* config = nullptr;
  CLI::Option* json = nullptr;
  std::string config_path;
  std::string json_path;
  bool quiet = false;
  bool check = false;
  std::string min_reliability = "1";
  std::string seeds = "1";
};

std::string HelpText(const Setting& setting, const Scenario& defaults) {
  return absl::StrCat(setting.help, ". Default: ", setting.show(defaults),
                      ". Config key: ", setting.key);
}

void AddScenarioOptions(bool sweep, Options* o) {
  const Scenario defaults;
  for (const Setting& setting : Settings()) {
    CLI::Option* option = nullptr;
    const bool skip = std::string_view(setting.flags).empty() ||
                      (sweep && std::string_view(setting.key) == "nodes");
    if (!skip) {
      option = o->app
                   ->add_option(setting.flags, CLI::callback_t(),
                                HelpText(setting, defaults))
                   ->type_name(setting.value_name)
                   ->expected(1)
                   ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
                   ->group("Scenario");
    }
    o->settings.push_back(option);
  }
}

void AddCommonOptions(bool sweep, bool check_implied, Options* o) {
  o->config = o->app->add_option(
      "--config", o->config_path,
      "TOML file of settings (keys = flag names with _; "
      "[engine] table for engine fields); flags override it");
  o->config->type_name("FILE");
  o->json =
      o->app->add_option("--json", o->json_path,
                         "Write the results as one JSON object to PATH ('-' = "
                         "stdout; the table then goes to stderr)");
  o->json->type_name("PATH");
  o->app->add_flag("-q,--quiet", o->quiet,
                   "No progress bar and no summary table (JSON, errors and "
                   "check failures still print)");
  if (sweep) {
    o->nodes_list =
        o->app
            ->add_option("--nodes", CLI::callback_t(),
                         "Swarm sizes, comma-separated, each 2..50000000. "
                         "Default: 256,1024,4096,16384 (or the config's "
                         "nodes = [...]). Config key: nodes")
            ->type_name("N,N,...")
            ->expected(1)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
            ->group("Scenario");
    o->app
        ->add_option("--seeds", o->seeds,
                     "Runs per size, with seeds --seed, --seed+1, ...; "
                     "1..1000. Default: 1")
        ->type_name("K");
  }
  o->app->add_flag(
      "--check", o->check,
      check_implied ? "Implied by verify"
      : sweep       ? "Exit 1 when reliability < --min-reliability, LDH grows "
                      "faster than log N, or (state workload) a run's state did "
                      "not converge"
                    : "Exit 1 when reliability < --min-reliability or (state "
                      "workload) the state did not converge");
  o->app
      ->add_option("--min-reliability", o->min_reliability,
                   "Lowest reliability --check accepts, 0..1. Default: 1")
      ->type_name("P");
}

absl::Status BadInput(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

// Whether a run's command line gives --nodes. It then overrides the
// config file's `nodes`, which may be a sweep's list of sizes: the replay
// printed for a failed sweep run is `run <every flag> --config=FILE`.
bool RunNodesFlagGiven(const Options& o) {
  const std::span<const Setting> settings = Settings();
  for (size_t i = 0; i < settings.size(); ++i) {
    if (!settings[i].engine_table &&
        std::string_view(settings[i].key) == "nodes") {
      return o.settings[i] != nullptr && o.settings[i]->count() > 0;
    }
  }
  return false;
}

// Defaults, then the config file, then the flags given.
absl::Status BuildScenario(const Options& o, bool sweep, Scenario* scenario,
                           ConfigExtras* extras) {
  if (o.config->count() > 0) {
    absl::Status status = ApplyConfigFile(
        o.config_path, sweep || RunNodesFlagGiven(o), scenario, extras);
    if (!status.ok()) return status;
  }
  const std::span<const Setting> settings = Settings();
  for (size_t i = 0; i < settings.size(); ++i) {
    const CLI::Option* option = o.settings[i];
    if (option == nullptr || option->count() == 0) continue;
    const std::vector<std::string>& values = option->results();
    if (settings[i].repeatable) {
      settings[i].clear(scenario);
      for (const std::string& value : values) {
        absl::Status status = ApplyFlag(settings[i], value, scenario);
        if (!status.ok()) return status;
      }
    } else {
      absl::Status status = ApplyFlag(settings[i], values.back(), scenario);
      if (!status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

absl::Status ParseSweepOptions(const Options& o, const ConfigExtras& extras,
                               CliPlan* plan) {
  if (o.nodes_list->count() > 0) {
    absl::Status status =
        ParseNodesList(o.nodes_list->results().back(), &plan->sweep_nodes);
    if (!status.ok()) return status;
  } else if (extras.sweep_nodes) {
    plan->sweep_nodes = *extras.sweep_nodes;
  } else {
    plan->sweep_nodes.assign(std::begin(kDefaultSweepNodes),
                             std::end(kDefaultSweepNodes));
  }
  std::vector<uint32_t>& nodes = plan->sweep_nodes;
  std::sort(nodes.begin(), nodes.end());
  if (std::adjacent_find(nodes.begin(), nodes.end()) != nodes.end()) {
    return BadInput("--nodes: each size at most once");
  }
  if (!absl::SimpleAtoi(o.seeds, &plan->seeds) || plan->seeds < 1 ||
      plan->seeds > kMaxSeeds) {
    return BadInput(absl::StrCat("--seeds ", o.seeds,
                                 ": expected an integer in 1..", kMaxSeeds));
  }
  // Every run would overwrite the one file; a sweep's failure prints the
  // replay command of its worst run, which takes --trace.
  if (!plan->scenario.trace_path.empty()) {
    return BadInput(
        "--trace (config key trace): only for `run`; a sweep would overwrite "
        "the file with each run. Trace one run with `elara-sim run ... "
        "--trace PATH` (a failed check prints the run's replay command)");
  }
  if (plan->check) return CheckSizesJudgeable(nodes);
  return absl::OkStatus();
}

absl::Status ValidatePlan(const CliPlan& plan) {
  if (plan.command == CliPlan::Command::kRun) {
    return plan.scenario.Validate();
  }
  for (uint32_t n : plan.sweep_nodes) {
    Scenario s = plan.scenario;
    s.nodes = n;
    absl::Status status = s.Validate();
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status FillPlan(const Options& o, bool sweep, CliPlan* plan) {
  plan->command = sweep ? CliPlan::Command::kSweep : CliPlan::Command::kRun;
  plan->config_path = o.config_path;
  plan->json_path = o.json_path;
  plan->quiet = o.quiet;
  plan->check = plan->check || o.check;
  if (o.json->count() > 0 && o.json_path.empty()) {
    return BadInput("--json: expected a file path or '-', got ''");
  }
  if (!absl::SimpleAtod(o.min_reliability, &plan->min_reliability) ||
      !(plan->min_reliability >= 0 && plan->min_reliability <= 1)) {
    return BadInput(absl::StrCat("--min-reliability ", o.min_reliability,
                                 ": expected a number in 0..1"));
  }
  ConfigExtras extras;
  absl::Status status = BuildScenario(o, sweep, &plan->scenario, &extras);
  if (status.ok() && sweep) status = ParseSweepOptions(o, extras, plan);
  if (status.ok()) status = ValidatePlan(*plan);
  return status;
}

int ReportBadInput(const CliIo& io, absl::string_view command,
                   absl::string_view message) {
  *io.err << "elara-sim: " << message << "\n"
          << "Run 'elara-sim " << command << (command.empty() ? "" : " ")
          << "--help' for the flags.\n";
  return kExitBadInput;
}

// A one-line bar on stderr, redrawn when the whole percent changes.
class ProgressBar {
 public:
  ProgressBar(const CliIo& io, bool enabled, std::string label)
      : err_(io.err), enabled_(enabled), label_(std::move(label)) {}
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() {
    if (enabled_ && percent_ >= 0) {
      *err_ << "\r" << std::string(label_.size() + 40, ' ') << "\r"
            << std::flush;
    }
  }

  void Update(double fraction) {
    if (!enabled_) return;
    const int percent =
        static_cast<int>(std::clamp(fraction, 0.0, 1.0) * 100.0);
    if (percent == percent_) return;
    percent_ = percent;
    constexpr int kWidth = 30;
    const int filled = percent * kWidth / 100;
    *err_ << "\r" << label_ << " [" << std::string(filled, '#')
          << std::string(kWidth - filled, '.') << "] "
          << absl::StrFormat("%3d%%", percent) << std::flush;
  }

 private:
  std::ostream* err_;
  const bool enabled_;
  const std::string label_;
  int percent_ = -1;
};

// Runs one scenario, timing Run() with the steady clock.
absl::StatusOr<RunRecord> ExecuteRun(const Scenario& scenario, const CliIo& io,
                                     bool show_progress,
                                     const std::string& label) {
  ResetPeakRss();
  RunRecord record;
  record.scenario = scenario;
  const auto setup_start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<sim::Simulator>> sim =
      sim::Simulator::Create(scenario);
  if (!sim.ok()) return sim.status();
  const auto run_start = std::chrono::steady_clock::now();
  {
    ProgressBar bar(io, show_progress, label);
    record.result = (*sim)->Run([&bar](double done) { bar.Update(done); });
  }
  const auto run_end = std::chrono::steady_clock::now();
  if (!(*sim)->trace_status().ok()) return (*sim)->trace_status();
  record.setup_s =
      std::chrono::duration<double>(run_start - setup_start).count();
  sim::RunResult& r = record.result;
  r.wall_s = std::chrono::duration<double>(run_end - run_start).count();
  r.events_per_s =
      r.wall_s > 0 ? static_cast<double>(r.events) / r.wall_s : 0.0;
  r.peak_rss_bytes = PeakRssBytes();
  return record;
}

// The JSON destination, opened before any run so a bad path fails fast.
class JsonSink {
 public:
  absl::Status Open(const std::string& path, const CliIo& io) {
    path_ = path;
    if (path.empty()) return absl::OkStatus();
    if (path == "-") {
      out_ = io.out;
      return absl::OkStatus();
    }
    file_.open(path, std::ios::out | std::ios::trunc);
    if (!file_) {
      return BadInput(absl::StrCat("--json ", path,
                                   ": cannot open for "
                                   "writing"));
    }
    out_ = &file_;
    return absl::OkStatus();
  }
  // False on a write error.
  bool Write(const std::string& json) {
    if (out_ == nullptr) return true;
    *out_ << json << std::flush;
    return static_cast<bool>(*out_);
  }
  // Where the human table goes: stdout, or stderr when JSON takes stdout.
  std::ostream* TableStream(const CliIo& io) const {
    return TableOnStderr() ? io.err : io.out;
  }
  bool TableOnStderr() const { return path_ == "-"; }

 private:
  std::string path_;
  std::ofstream file_;
  std::ostream* out_ = nullptr;
};

// False when the summary table could not be written (stdout on a full
// disk, a closed pipe, ...).
bool WriteTable(const std::string& table, const JsonSink& json,
                const CliIo& io) {
  std::ostream& out = *json.TableStream(io);
  out << table << std::flush;
  return static_cast<bool>(out);
}

std::string TableWriteFailed(const JsonSink& json) {
  return json.TableOnStderr() ? "summary table: write to stderr failed"
                              : "summary table: write to stdout failed";
}

void PrintFailure(const CliIo& io, const std::string& reason,
                  const CliPlan& plan, const RunRecord& worst) {
  *io.err << "elara-sim: check failed: " << reason << "\n"
          << "elara-sim: replay the worst run (seed " << worst.scenario.seed
          << "): " << ReplayCommand(plan, worst.scenario) << "\n";
}

// --check with the state workload: every live node must end with the same
// state.
bool StateFailed(const sim::RunResult& r) {
  return r.state_workload && !r.state_convergence_ms;
}

std::string StateFailureReason(const sim::RunResult& r) {
  return absl::StrFormat(
      "state did not converge at N=%d: %d live nodes off the majority digest "
      "at the end",
      r.nodes, r.state_divergent_nodes);
}

int ExecuteRunCommand(const CliPlan& plan, const CliIo& io, JsonSink* json) {
  absl::StatusOr<RunRecord> run = ExecuteRun(
      plan.scenario, io, io.progress && !plan.quiet,
      absl::StrCat("N=", plan.scenario.nodes, " seed=", plan.scenario.seed));
  if (!run.ok()) return ReportBadInput(io, "run", run.status().message());
  // The JSON is still written when the table could not be.
  const bool table_ok = plan.quiet || WriteTable(RunTable(*run), *json, io);
  if (!json->Write(RunJson(*run, ReplayCommand(plan, plan.scenario)))) {
    return ReportBadInput(io, "run", "--json: write failed");
  }
  if (!table_ok) return ReportBadInput(io, "run", TableWriteFailed(*json));
  if (plan.check && run->result.reliability < plan.min_reliability) {
    PrintFailure(io,
                 absl::StrFormat("reliability %.6f < %g (--min-reliability)",
                                 run->result.reliability, plan.min_reliability),
                 plan, *run);
    return kExitCheckFailed;
  }
  if (plan.check && StateFailed(run->result)) {
    PrintFailure(io, StateFailureReason(run->result), plan, *run);
    return kExitCheckFailed;
  }
  return kExitOk;
}

// The run a failed check replays: the lowest reliability at the worst size,
// or the highest LDH at the largest size.
size_t WorstRun(const SweepReport& report) {
  const SizeSummary& size = report.sizes[report.check->worst_point];
  size_t worst = size.runs.front();
  for (size_t i : size.runs) {
    const sim::RunResult& r = report.runs[i].result;
    const sim::RunResult& w = report.runs[worst].result;
    if (report.check->reliability_failed ? r.reliability < w.reliability
                                         : r.ldh > w.ldh) {
      worst = i;
    }
  }
  return worst;
}

// After a passed check: a state-workload run that did not converge fails
// it (that run is replayed).
void AddStateCheck(SweepReport* report) {
  if (!report->check->passed) return;
  for (size_t i = 0; i < report->runs.size(); ++i) {
    if (StateFailed(report->runs[i].result)) {
      report->check->passed = false;
      report->check->reason = StateFailureReason(report->runs[i].result);
      report->state_failed_run = i;
      return;
    }
  }
}

int ExecuteSweepCommand(const CliPlan& plan, const CliIo& io, JsonSink* json) {
  SweepReport report;
  report.min_reliability = plan.min_reliability;
  const size_t total = plan.sweep_nodes.size() * plan.seeds;
  for (uint32_t nodes : plan.sweep_nodes) {
    for (uint32_t k = 0; k < plan.seeds; ++k) {
      Scenario s = plan.scenario;
      s.nodes = nodes;
      s.seed = plan.scenario.seed + k;
      const std::string label =
          absl::StrCat("[", report.runs.size() + 1, "/", total, "] N=", nodes,
                       " seed=", s.seed);
      absl::StatusOr<RunRecord> run =
          ExecuteRun(s, io, io.progress && !plan.quiet, label);
      if (!run.ok()) return ReportBadInput(io, "sweep", run.status().message());
      report.replays.push_back(ReplayCommand(plan, s));
      report.runs.push_back(*std::move(run));
    }
  }
  report.sizes = SummarizeBySize(report.runs);
  const std::vector<SizePoint> points = ToSizePoints(report.sizes);
  if (points.size() >= 2) report.fit = FitLdhLog2(points);
  report.state_fit = FitStateConvergence(report.sizes);
  if (plan.check) {
    absl::StatusOr<CheckOutcome> check =
        CheckSweep(points, plan.min_reliability);
    if (!check.ok())
      return ReportBadInput(io, "sweep", check.status().message());
    report.check = *check;
    AddStateCheck(&report);
  }
  const bool table_ok = plan.quiet || WriteTable(SweepTable(report), *json, io);
  if (!json->Write(SweepJson(report))) {
    return ReportBadInput(io, "sweep", "--json: write failed");
  }
  if (!table_ok) return ReportBadInput(io, "sweep", TableWriteFailed(*json));
  if (report.check && !report.check->passed) {
    const size_t worst =
        report.state_failed_run ? *report.state_failed_run : WorstRun(report);
    PrintFailure(io, report.check->reason, plan, report.runs[worst]);
    return kExitCheckFailed;
  }
  return kExitOk;
}

// Single-quotes `text` for a POSIX shell when it needs it.
std::string ShellQuote(const std::string& text) {
  const bool plain =
      !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '/' || c == '.' || c == '_' ||
               c == '-' || c == '+' || c == ':' || c == '=' || c == '@';
      });
  if (plain) return text;
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

}  // namespace

std::string ReplayCommand(const CliPlan& plan, const Scenario& scenario) {
  std::string command = sim::FailureReplay(scenario);
  if (!plan.config_path.empty()) {
    absl::StrAppend(&command, " --config=", ShellQuote(plan.config_path));
  }
  return command;
}

std::optional<int> ParseCommandLine(int argc, const char* const* argv,
                                    const CliIo& io, CliPlan* plan) {
  CLI::App app(
      "elara-sim: simulate an ELARA swarm (HyParView + Plumtree) "
      "deterministically",
      "elara-sim");
  app.footer(kTopFooter);
  app.require_subcommand(1);
  Options run, sweep, verify;
  run.app = app.add_subcommand("run", "Simulate one scenario and measure it");
  run.app->footer(kRunFooter);
  sweep.app = app.add_subcommand(
      "sweep", "Run a scenario over several swarm sizes and fit LDH to log2 N");
  sweep.app->footer(kSweepFooter);
  verify.app = app.add_subcommand("verify", "Same as `sweep --check`");
  verify.app->footer(kSweepFooter);
  AddScenarioOptions(false, &run);
  AddCommonOptions(false, false, &run);
  AddScenarioOptions(true, &sweep);
  AddCommonOptions(true, false, &sweep);
  AddScenarioOptions(true, &verify);
  AddCommonOptions(true, true, &verify);
  // CLI11 reads `--json=` (nothing after '=') as `--json` and takes the
  // next argument as its value (`--json= -q` wrote a file named "-q"):
  // refuse an empty `=` value by name instead.
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (absl::StartsWith(arg, "--") && arg.size() > 3 &&
        arg.find('=') == arg.size() - 1) {
      const absl::string_view first = argv[1];
      const absl::string_view command =
          first == "run" || first == "sweep" || first == "verify" ? first : "";
      return ReportBadInput(
          io, command,
          absl::StrCat(arg.substr(0, arg.size() - 1),
                       ": empty value after '=' (give one, or drop the "
                       "flag)"));
    }
  }
  // Help that could not be written (stdout on a full disk) is a failure,
  // not exit 0.
  auto print_help = [&](const CLI::Error& e) {
    const int code = app.exit(e, *io.out, *io.err);
    io.out->flush();
    if (!*io.out) {
      *io.err << "elara-sim: --help: write to stdout failed\n";
      return kExitBadInput;
    }
    return code;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return print_help(e);
  } catch (const CLI::CallForAllHelp& e) {
    return print_help(e);
  } catch (const CLI::ParseError& e) {
    for (const Options* o : {&run, &sweep, &verify}) {
      if (o->app->parsed()) {
        return ReportBadInput(io, o->app->get_name(), e.what());
      }
    }
    *io.err << app.help();
    if (argc > 1 && argv[1][0] != '-') {
      return ReportBadInput(io, "",
                            absl::StrCat("unknown command '", argv[1],
                                         "': expected run, sweep or "
                                         "verify"));
    }
    return ReportBadInput(io, "", e.what());
  }
  const Options& chosen = run.app->parsed()     ? run
                          : sweep.app->parsed() ? sweep
                                                : verify;
  plan->check = verify.app->parsed();
  absl::Status status = FillPlan(chosen, !run.app->parsed(), plan);
  if (!status.ok()) {
    return ReportBadInput(io, chosen.app->get_name(), status.message());
  }
  return std::nullopt;
}

int ExecutePlan(const CliPlan& plan, const CliIo& io) {
  JsonSink json;
  absl::Status status = json.Open(plan.json_path, io);
  const char* command =
      plan.command == CliPlan::Command::kRun ? "run" : "sweep";
  if (!status.ok()) return ReportBadInput(io, command, status.message());
  return plan.command == CliPlan::Command::kRun
             ? ExecuteRunCommand(plan, io, &json)
             : ExecuteSweepCommand(plan, io, &json);
}

int SimCliMain(int argc, const char* const* argv, const CliIo& io) {
  CliPlan plan;
  std::optional<int> exit_code = ParseCommandLine(argc, argv, io, &plan);
  if (exit_code) return *exit_code;
  return ExecutePlan(plan, io);
}

}  // namespace elara::tools
