// Helpers every multi-process test uses: a private namespace per test, and
// bounded waits for children (a test never hangs CI).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace shmq::test {

// A namespace unique to this test and process ("t<pid>x<n>"); removes every
// /dev/shm object of it on construction and destruction.
class TestNamespace {
 public:
  TestNamespace();
  ~TestNamespace();
  TestNamespace(const TestNamespace&) = delete;
  TestNamespace& operator=(const TestNamespace&) = delete;
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  // Names of the /dev/shm objects the namespace has now.
  [[nodiscard]] std::vector<std::string> objects() const;
  // The paths of its queue `queue`'s segment and of its session registry.
  [[nodiscard]] std::string queue_path(const std::string& queue) const;
  [[nodiscard]] std::string registry_path() const;

 private:
  std::string name_;
};

// Forks; the child runs `body` and exits with its return value (uncaught
// exceptions exit 99). Returns the child's pid. Fork only while this process
// holds no Client: a Client owns a heartbeat thread, and a child forked from a
// threaded process can inherit a lock that thread held (ASan's allocator does).
pid_t fork_child(const std::function<int()>& body);

// How a child ended.
struct ChildExit {
  bool exited = false;    // normal exit
  int code = -1;          // exit code if exited
  int signal = 0;         // terminating signal otherwise
  bool timed_out = false; // killed by wait_child after the timeout
};

// Waits for `pid` at most `timeout`; on timeout SIGKILLs and reaps it.
ChildExit wait_child(pid_t pid, std::chrono::milliseconds timeout);

// Reads from a pipe end until `n` bytes arrived or `timeout` passed: false on timeout/EOF.
bool read_exact(int fd, void* buf, std::size_t n, std::chrono::milliseconds timeout);

// What a program run by run_program did.
struct ProgramResult {
  ChildExit exit;
  std::string out;  // everything it wrote to stdout
  std::string err;  // and to stderr
};

// Runs argv[0] (a path) with `argv`, feeding it `input` on stdin, and waits
// at most `timeout` (then SIGKILLs it). Captures stdout and stderr. `env`:
// "NAME=VALUE" entries set (replacing any of the same name) in the program's
// environment, which is otherwise this process's.
ProgramResult run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::string& input = {}, const std::vector<std::string>& env = {});

}  // namespace shmq::test
