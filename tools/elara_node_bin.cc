// elara-node: one ELARA node on a real UDP socket. See tools/node_cli.h and
// README.md, section "Run a real node: `elara-node`".
#include "tools/node_cli.h"

int main(int argc, char** argv) { return elara::tools::RunNodeCli(argc, argv); }
