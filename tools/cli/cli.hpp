// shmq-cli: what every command shares. Each cmd_*.cpp adds its subcommands
// with add_*_commands(); CommandLine (command_line.cpp) parses, runs the chosen
// one, and turns any error into one line on stderr and a documented exit code.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "shmq/admin/namespace.hpp"
#include "shmq/admin/report.hpp"
#include "shmq/admin/system.hpp"

namespace shmq::cli {

// Exit codes (docs/cli.md documents them; scripts rely on them).
enum Exit : int {
  kOk = 0,
  kInternal = 1,       // anything else: a system call failed, a corrupt segment, a bug
  kUsage = 2,          // bad flags, numbers, names, settings, a message too large
  kNotFound = 3,       // no such queue, group or dead letter
  kPermission = 4,     // the OS or shmqd refused
  kNoDaemon = 5,       // the command needs shmqd and none runs in the namespace
  kTimeout = 6,        // recv got fewer messages than asked before --timeout; shmqd did not answer (wait-ready too)
  kQueueFull = 7,      // send or dlq replay found no free slot (within --timeout)
  kCheckFailed = 8,    // check found slots or words nobody accounts for
  kAlreadyExists = 9,  // create: the queue exists
};

// An error a command reports: one line, the exit code.
class Failure : public std::runtime_error {
 public:
  Failure(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

// Options every command sees.
struct Globals {
  std::string ns_flag;  // --namespace
  bool json = false;    // --json (read commands)
  // The namespace in use: --namespace, else $SHMQ_NAMESPACE, else "default".
  [[nodiscard]] std::string ns() const;
};

// A subcommand and what runs it once it is parsed.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};
using Commands = std::vector<Command>;

void add_inspect_commands(CLI::App& app, Globals& g, Commands& out);  // list, stat, sessions, check
void add_watch_command(CLI::App& app, Globals& g, Commands& out);     // watch
void add_admin_commands(CLI::App& app, Globals& g, Commands& out);    // create, delete, purge, wait-ready
void add_data_commands(CLI::App& app, Globals& g, Commands& out);     // send, recv, peek
void add_dlq_command(CLI::App& app, Globals& g, Commands& out);       // dlq
void add_gc_command(CLI::App& app, Globals& g, Commands& out);        // gc

// shmq-cli's command line: the app with every subcommand and what parsing
// fills in. Building and parsing it run nothing (the fuzzer parses only);
// run() runs the parsed command. main() is: parse, then run.
class CommandLine {
 public:
  CommandLine();
  ~CommandLine() = default;
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // Parses argv. nullopt: a command was chosen, run() runs it. Otherwise the
  // exit code, with the help or version text written to `out`, or the usage
  // error ("shmq-cli: ...; see `shmq-cli send --help`") to `err`.
  [[nodiscard]] std::optional<int> parse(int argc, const char* const* argv, std::ostream& out, std::ostream& err);
  // Runs the parsed command; every error becomes one line on stderr and the
  // exit code of its kind.
  [[nodiscard]] int run();

 private:
  CLI::App app_;
  Globals globals_;
  Commands commands_;
};

// Adds --json to a read command.
void add_json_flag(CLI::App* sub, Globals& g);
// A check for count options: a whole number of at least 1.
CLI::Validator at_least_one();
// A check for message ids (--id): decimal digits only, within 64 bits (so "-1",
// "+1" and "0x10" are usage errors, not ids).
CLI::Validator message_id();

// ---- reading a namespace without joining it (no session is claimed) --------

// "producer", "consumer", "producer,consumer", "-".
std::string roles_text(const admin::AttachmentStats& a);
// "1.2s", "350ms", "-".
std::string age_text(std::optional<std::uint64_t> ms);
// The group's index in the queue, or Failure(kNotFound) naming the groups.
std::uint32_t group_index(const admin::Queue& q, const std::string& group);
// The group named by --group, or the only one; several groups and none named:
// Failure(kUsage) listing them.
std::uint32_t choose_group(const admin::Queue& q, const std::string& group);

// The payload as JSON fields: "data" when valid UTF-8, else "data_base64".
bool valid_utf8(const std::byte* p, std::size_t n) noexcept;
std::string base64(const std::byte* p, std::size_t n);
// Printable text for a human table: valid UTF-8 as is (control characters
// escaped), anything else as \xNN escapes.
std::string printable(const std::byte* p, std::size_t n, std::size_t max_chars = 200);

// Milliseconds between a CLOCK_MONOTONIC ns time stamp and now (0 if in the future).
std::uint64_t age_ms(std::uint64_t then_ns, std::uint64_t now_ns) noexcept;

}  // namespace shmq::cli
