// File: tools/node_cli.h
//
// The elara-node program as a function, so tests can run it in-process and
// the binary's main() stays one line. It parses flags and the config file
// (tools/node_cli_options.h), loads or creates the identity, binds the node,
// prints the ready event, joins the contacts, then runs the node's loop
// with stdin (control lines), stdout (events), the shutdown signals and the
// metrics listener on the same epoll set, until SIGINT/SIGTERM, a "leave"
// command, or EOF on stdin with --exit-on-eof. It then leaves the swarm,
// flushes, prints a final stats line and an exit line.
//
// Exit codes: 0 clean exit, 1 runtime error (bind, identity file, poller),
// 2 usage (flags, config file, invalid configuration).
#ifndef ELARA_TOOLS_NODE_CLI_H_
#define ELARA_TOOLS_NODE_CLI_H_

namespace elara::tools {

int RunNodeCli(int argc, const char* const* argv);

}  // namespace elara::tools

#endif  // ELARA_TOOLS_NODE_CLI_H_
