#include "support/shmqd_ready.hpp"

#include <cerrno>
#include <charconv>
#include <utility>

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

ShmqdReadyReader::~ShmqdReadyReader() { close(); }

ShmqdReadyReader::ShmqdReadyReader(ShmqdReadyReader&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), text_(std::move(other.text_)) {}

ShmqdReadyReader& ShmqdReadyReader::operator=(ShmqdReadyReader&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    text_ = std::move(other.text_);
  }
  return *this;
}

void ShmqdReadyReader::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<pid_t> ShmqdReadyReader::wait(std::chrono::milliseconds limit) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + limit;
  while (fd_ >= 0) {
    const bool whole = text_.find('\n') != std::string::npos;
    const Clock::time_point now = Clock::now();
    const int timeout_ms =
        whole || now >= deadline ? 0 : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count());
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // nothing (more) within the limit
    char buf[64];
    const ssize_t got = ::read(fd_, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {  // EOF: shmqd closed it, after the line or without one
      close();
      break;
    }
    text_.append(buf, static_cast<std::size_t>(got));
  }
  if (text_.find('\n') == std::string::npos) return std::nullopt;
  return parse_shmqd_ready(text_);
}

}  // namespace shmq::support
