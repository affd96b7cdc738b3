// The messages `shmq-cli send` takes from stdin: one per line. Pure (no I/O),
// so the fuzzer (fuzz/targets/cli_target.cpp) tests the very code send uses.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace shmq::cli {

// Splits text that arrives in pieces into lines: a message is a line without
// its '\n' (every other byte, '\r' and NUL included, is part of it); an empty
// line is an empty message; a last line without '\n' is a message too.
class LineSplitter {
 public:
  // Takes the next piece of input; calls each(std::string_view) for every line
  // it completes, in order.
  template <typename F>
  void feed(std::string_view piece, F&& each) {
    std::size_t start = 0;
    for (std::size_t nl = 0; (nl = piece.find('\n', start)) != std::string_view::npos; start = nl + 1) {
      if (partial_.empty()) {
        each(piece.substr(start, nl - start));
      } else {
        partial_.append(piece.substr(start, nl - start));
        each(std::string_view(partial_));
        partial_.clear();
      }
    }
    partial_.append(piece.substr(start));
  }

  // End of input: calls each() for a last line that had no '\n'.
  template <typename F>
  void finish(F&& each) {
    if (partial_.empty()) return;
    each(std::string_view(partial_));
    partial_.clear();
  }

 private:
  std::string partial_;  // the line read so far
};

}  // namespace shmq::cli
