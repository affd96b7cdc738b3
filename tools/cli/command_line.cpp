// shmq-cli's command line: the app with every subcommand, parsing, and running
// the chosen command with its errors turned into exit codes (cli.hpp, docs/cli.md).
#include <cstdio>
#include <exception>
#include <string>

#include "cli.hpp"
#include "shmq/error.hpp"

namespace shmq::cli {

namespace {

int exit_code_of(errc e) {
  switch (e) {
    case errc::invalid_argument: return kUsage;
    case errc::not_found: return kNotFound;
    case errc::already_exists: return kAlreadyExists;
    case errc::permission_denied: return kPermission;
    case errc::daemon_unavailable: return kNoDaemon;
    case errc::timeout: return kTimeout;
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

CommandLine::CommandLine() : app_{"shmq-cli: inspect and operate the shmq queues of a namespace", "shmq-cli"} {
  app_.require_subcommand(1, 1);
  app_.fallthrough();  // global options are accepted after the subcommand too
  app_.add_option("--namespace", globals_.ns_flag, "Namespace (default: $SHMQ_NAMESPACE, else \"default\")");
  app_.set_version_flag("--version", SHMQ_VERSION_STRING);
  app_.footer(std::string("Example: shmq-cli --namespace prod stat orders --json\n") + kExitCodes);

  add_inspect_commands(app_, globals_, commands_);
  add_watch_command(app_, globals_, commands_);
  add_admin_commands(app_, globals_, commands_);
  add_data_commands(app_, globals_, commands_);
  add_dlq_command(app_, globals_, commands_);
  add_gc_command(app_, globals_, commands_);
}

std::optional<int> CommandLine::parse(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  try {
    app_.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    return app_.exit(e, out, err);
  } catch (const CLI::CallForVersion& e) {
    return app_.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    std::string where = "shmq-cli";
    for (const CLI::App* sub : app_.get_subcommands()) where += " " + sub->get_name();
    err << "shmq-cli: " << e.what() << "; see `" << where << " --help`\n" << std::flush;
    return kUsage;
  }
}

int CommandLine::run() {
  try {
    for (const Command& c : commands_)
      if (c.app->parsed()) return c.run();
    return fail(kUsage, "no command given; see `shmq-cli --help`");
  } catch (const Failure& e) {
    return fail(e.code(), e.what());
  } catch (const Error& e) {
    return fail(exit_code_of(e.value()), e.what());
  } catch (const std::exception& e) {
    return fail(kInternal, e.what());
  }
}

}  // namespace shmq::cli
