#include "processes.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.hpp"
#include "shmq/admin/system.hpp"

namespace shmq_bench {

pid_t spawn(int cpu, const std::function<void()>& body, ChildError& error) {
  std::fflush(nullptr);  // no buffered output printed twice
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid > 0) return pid;
  int status = 0;
  try {
    if (!pin_to(cpu)) throw std::runtime_error("cannot pin to CPU " + std::to_string(cpu));
    body();
  } catch (const std::exception& e) {
    std::snprintf(error.text, sizeof error.text, "%s", e.what());
    status = 1;
  }
  ::_exit(status);
}

std::string wait_all(std::span<const pid_t> children, std::chrono::milliseconds limit) {
  std::vector<pollfd> running;
  std::vector<pid_t> pids;
  for (pid_t pid : children) {
    running.push_back({shmq::admin::pidfd_open(pid), POLLIN, 0});
    pids.push_back(pid);
  }
  std::string problem;
  const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(limit.count()) * 1'000'000;
  while (!running.empty()) {
    const std::uint64_t now = now_ns();
    const int ms = now >= deadline ? 0 : static_cast<int>((deadline - now) / 1'000'000 + 1);
    if (::poll(running.data(), running.size(), ms) == 0) {
      for (pid_t pid : pids) ::kill(pid, SIGKILL);
      problem = "timed out after " + std::to_string(limit.count()) + " ms";
      for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
      for (const pollfd& p : running) ::close(p.fd);
      return problem;
    }
    for (std::size_t i = running.size(); i-- > 0;) {
      // A pidfd that could not be opened (-1) means the child is already gone.
      if (running[i].fd >= 0 && running[i].revents == 0) continue;
      int status = 0;
      ::waitpid(pids[i], &status, 0);
      if (running[i].fd >= 0) ::close(running[i].fd);
      if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && problem.empty()) {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): only this thread of shmq-bench reports child deaths
        problem = WIFSIGNALED(status) ? std::string("killed by signal ") + ::strsignal(WTERMSIG(status))
                                      : "exit status " + std::to_string(WEXITSTATUS(status));
      }
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      pids.erase(pids.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  return problem;
}

}  // namespace shmq_bench
