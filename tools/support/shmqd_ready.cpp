#include "support/shmqd_ready.hpp"

#include <cerrno>
#include <charconv>

#include <poll.h>
#include <unistd.h>

namespace shmq::support {

namespace {

constexpr std::string_view kPrefix = "ready ";

}  // namespace

std::string shmqd_ready_message(pid_t pid) { return std::string(kPrefix) + std::to_string(pid) + "\n"; }

std::optional<pid_t> parse_shmqd_ready(std::string_view text) noexcept {
  if (!text.starts_with(kPrefix) || !text.ends_with('\n')) return std::nullopt;
  const std::string_view digits = text.substr(kPrefix.size(), text.size() - kPrefix.size() - 1);
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (ec != std::errc() || end != digits.data() + digits.size() || pid <= 0) return std::nullopt;
  return pid;
}

std::optional<pid_t> wait_shmqd_ready(int fd, std::chrono::milliseconds limit) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + limit;
  std::string text;
  while (text.find('\n') == std::string::npos) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count()));
    if (n < 0 && errno != EINTR) return std::nullopt;
    if (n <= 0) continue;
    char buf[64];
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return std::nullopt;  // EOF: shmqd closed it without a word
    text.append(buf, static_cast<std::size_t>(got));
  }
  return parse_shmqd_ready(text);
}

}  // namespace shmq::support
