#include "os/process.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <system_error>

namespace shmq::detail {
namespace {

// Reads /proc/<pid>/<file> into buf (NUL-terminated); false if unreadable.
bool read_proc_file(pid_t pid, const char* file, char* buf, std::size_t cap) noexcept {
  if (pid <= 0) return false;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(pid), file);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::size_t len = 0;
  while (len + 1 < cap) {
    const ssize_t n = ::read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buf[len] = '\0';
  return len > 0;
}

struct ProcStat {
  char state = '?';
  std::uint64_t start_time = 0;
};

// Parses /proc/<pid>/stat. The command name (field 2) may hold spaces and ')',
// so fields are counted from the last ')': state is field 3, starttime 22.
std::optional<ProcStat> read_proc_stat(pid_t pid) noexcept {
  char buf[4096];
  if (!read_proc_file(pid, "stat", buf, sizeof buf)) return std::nullopt;
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return std::nullopt;
  const char* const end = buf + std::strlen(buf);
  ProcStat st;
  ++p;
  for (int field = 3; field <= 22; ++field) {
    while (p < end && (*p == ' ' || *p == '\n')) ++p;
    const char* tok = p;
    while (p < end && *p != ' ' && *p != '\n') ++p;
    if (tok == p) return std::nullopt;
    if (field == 3) st.state = *tok;
    if (field == 22 && std::from_chars(tok, p, st.start_time).ec != std::errc()) {
      return std::nullopt;
    }
  }
  return st;
}

}  // namespace

std::string process_name(pid_t pid) {
  char buf[64];
  if (!read_proc_file(pid, "comm", buf, sizeof buf)) return "";
  std::string name = buf;
  if (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

}  // namespace shmq::detail

// Declared in shmq/admin/system.hpp (the watchdog tells processes apart by them).
namespace shmq::admin {

std::uint64_t process_start_time(pid_t pid) noexcept {
  const auto st = detail::read_proc_stat(pid);
  return st ? st->start_time : 0;
}

bool process_alive(pid_t pid, std::uint64_t start_time) noexcept {
  const auto st = detail::read_proc_stat(pid);
  // 'Z' zombie, 'X'/'x' dead: exited, only not reaped yet.
  return st && st->start_time == start_time && st->state != 'Z' && st->state != 'X' &&
         st->state != 'x';
}

}  // namespace shmq::admin
