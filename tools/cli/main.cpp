// shmq-cli: inspect and operate the queues of a namespace. Parse, run the one
// subcommand (CommandLine, command_line.cpp), and turn every error into one
// line on stderr and an exit code (cli.hpp, docs/cli.md).
#include <iostream>

#include "cli.hpp"

int main(int argc, char** argv) {
  shmq::cli::CommandLine command_line;
  if (const auto code = command_line.parse(argc, argv, std::cout, std::cerr)) return *code;
  return command_line.run();
}
