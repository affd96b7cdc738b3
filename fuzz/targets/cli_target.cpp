// shmq-cli's input: the input split on NUL bytes is argv (parsed, never run:
// parsing has no side effects), and the whole input is text on stdin for
// `send`, fed to LineSplitter in pieces of varying size, which must give back
// exactly the lines of the text.
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "lines.hpp"
#include "targets.hpp"

namespace {

constexpr std::size_t kMaxArgs = 64;

void parse_argv(std::string_view input) {
  std::vector<std::string> args{"shmq-cli"};
  for (std::size_t start = 0; start <= input.size() && args.size() < kMaxArgs;) {
    const std::size_t nul = std::min(input.find('\0', start), input.size());
    args.emplace_back(input.substr(start, nul - start));
    start = nul + 1;
  }
  std::vector<const char*> argv;
  argv.reserve(args.size() + 1);
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  shmq::cli::CommandLine command_line;
  std::ostringstream out;
  std::ostringstream err;
  const auto code = command_line.parse(static_cast<int>(args.size()), argv.data(), out, err);
  if (code && *code != 0 && err.str().empty()) shmq::fuzz::broken("cli", "a usage error printed no message");
}

void split_lines(std::string_view input) {
  shmq::cli::LineSplitter lines;
  std::string joined;
  std::size_t count = 0;
  const auto each = [&](std::string_view line) {
    if (count++ != 0) joined += '\n';
    joined.append(line);
  };
  // Piece sizes from the bytes themselves: 1 to 16 bytes.
  for (std::size_t at = 0; at < input.size();) {
    const std::size_t n = std::min<std::size_t>(1 + (static_cast<unsigned char>(input[at]) & 15U), input.size() - at);
    lines.feed(input.substr(at, n), each);
    at += n;
  }
  lines.finish(each);
  // The lines joined by '\n' give the text back, but a final '\n'.
  std::string_view expected = input;
  if (!expected.empty() && expected.back() == '\n') expected.remove_suffix(1);
  if (joined != expected || (input.empty() && count != 0))
    shmq::fuzz::broken("cli", "LineSplitter does not give back the lines of its input");
}

}  // namespace

int shmq_fuzz_cli(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  parse_argv(input);
  split_lines(input);
  return 0;
}
