// elara-node: one ELARA node on a real UDP socket. See tools/node_cli.h and
// runtime/ELARA_NODE.md.
#include "tools/node_cli.h"

int main(int argc, char** argv) { return elara::tools::RunNodeCli(argc, argv); }
