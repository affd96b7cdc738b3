// shmq-cli: inspect and operate the queues of a namespace. Parse, run the one
// subcommand, and turn every error into one line on stderr and an exit code
// (cli.hpp, docs/cli.md).
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "shmq/error.hpp"

namespace {

using namespace shmq::cli;

int exit_code_of(shmq::errc e) {
  switch (e) {
    case shmq::errc::invalid_argument: return kUsage;
    case shmq::errc::not_found: return kNotFound;
    case shmq::errc::already_exists: return kAlreadyExists;
    case shmq::errc::permission_denied: return kPermission;
    case shmq::errc::daemon_unavailable: return kNoDaemon;
    case shmq::errc::timeout: return kTimeout;
    default: return kInternal;
  }
}

int fail(int code, const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "shmq-cli: %s\n", message.c_str());
  return code;
}

constexpr const char* kExitCodes =
    "Exit codes: 0 ok; 1 internal error; 2 usage (bad flag, number, name or setting; message too large); "
    "3 not found; 4 permission denied; 5 shmqd not running; 6 timeout; 7 queue full; 8 check failed; "
    "9 already exists.";

}  // namespace

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): only CLI11 set-up is outside a try
  CLI::App app{"shmq-cli: inspect and operate the shmq queues of a namespace", "shmq-cli"};
  app.require_subcommand(1, 1);
  app.fallthrough();  // global options are accepted after the subcommand too
  Globals g;
  app.add_option("--namespace", g.ns_flag, "Namespace (default: $SHMQ_NAMESPACE, else \"default\")");
  app.set_version_flag("--version", SHMQ_VERSION_STRING);
  app.footer(std::string("Example: shmq-cli --namespace prod stat orders --json\n") + kExitCodes);

  Commands commands;
  add_inspect_commands(app, g, commands);
  add_watch_command(app, g, commands);
  add_admin_commands(app, g, commands);
  add_data_commands(app, g, commands);
  add_dlq_command(app, g, commands);
  add_gc_command(app, g, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string where = "shmq-cli";
    for (const CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name();
    return fail(kUsage, std::string(e.what()) + "; see `" + where + " --help`");
  }

  try {
    for (const Command& c : commands)
      if (c.app->parsed()) return c.run();
    return fail(kUsage, "no command given; see `shmq-cli --help`");
  } catch (const Failure& e) {
    return fail(e.code(), e.what());
  } catch (const shmq::Error& e) {
    return fail(exit_code_of(e.value()), e.what());
  } catch (const std::exception& e) {
    return fail(kInternal, e.what());
  }
}
