// elara-sim: the simulator's command line (tools/sim_cli.h). A progress bar
// is drawn on stderr only when stderr is a terminal.
//
// Huge pages: a large run touches a different engine at every event, so
// with 4 KiB pages nearly every event also misses the TLB. glibc backs its
// heap with transparent huge pages when GLIBC_TUNABLES holds
// glibc.malloc.hugetlb=1, which it reads only at process start; so unless
// the variable already says something about hugetlb (or ELARA_SIM_HUGEPAGES
// is 0), main re-executes the binary once with it added. Measured on a
// 100,000-node run: ~15 % less CPU time. Memory contents and every result
// are unchanged (the trace hash is the same either way).
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "tools/sim_cli.h"

namespace {

void ReexecWithHugePages(char** argv) {
  const char* opt_out = getenv("ELARA_SIM_HUGEPAGES");
  if (opt_out != nullptr && strcmp(opt_out, "0") == 0) return;
  const char* tunables = getenv("GLIBC_TUNABLES");
  std::string value = tunables == nullptr ? "" : tunables;
  if (value.find("glibc.malloc.hugetlb") != std::string::npos) return;
  value += value.empty() ? "" : ":";
  value += "glibc.malloc.hugetlb=1";
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed (no /proc, say): run as we are, with 4 KiB pages.
  if (tunables == nullptr) {
    unsetenv("GLIBC_TUNABLES");
  } else {
    setenv("GLIBC_TUNABLES", tunables, 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  ReexecWithHugePages(argv);
  elara::tools::CliIo io;
  io.out = &std::cout;
  io.err = &std::cerr;
  io.progress = isatty(STDERR_FILENO) == 1;
  return elara::tools::SimCliMain(argc, argv, io);
}
