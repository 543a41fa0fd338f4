// elara-sim: the simulator's command line (tools/sim_cli.h). A progress bar
// is drawn on stderr only when stderr is a terminal.
#include <unistd.h>

#include <iostream>

#include "tools/sim_cli.h"

int main(int argc, char** argv) {
  elara::tools::CliIo io;
  io.out = &std::cout;
  io.err = &std::cerr;
  io.progress = isatty(STDERR_FILENO) == 1;
  return elara::tools::SimCliMain(argc, argv, io);
}
