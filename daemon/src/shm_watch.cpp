#include "shm_watch.hpp"

#include <cerrno>
#include <cstddef>
#include <string_view>
#include <system_error>
#include <utility>

#include <sys/inotify.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "shmq/admin/namespace.hpp"

namespace shmq::daemon {

ShmDirWatch::ShmDirWatch(EventLoop& loop, std::string prefix, std::function<void()> changed)
    : loop_(loop), prefix_(std::move(prefix)), changed_(std::move(changed)), fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  if (fd_ >= 0 && ::inotify_add_watch(fd_, admin::shm_dir(), IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM) < 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (fd_ < 0) {
    spdlog::warn("cannot watch {} with inotify ({}): new queues are found within a second instead of at once",
                 admin::shm_dir(), std::generic_category().message(errno));
    return;
  }
  loop_.watch(fd_, [this] { on_readable(); });
}

ShmDirWatch::~ShmDirWatch() {
  if (fd_ < 0) return;
  loop_.unwatch(fd_);
  ::close(fd_);
}

void ShmDirWatch::on_readable() noexcept {
  alignas(inotify_event) char buf[4096];
  bool relevant = false;
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: all read
    // The kernel writes whole events; each length is its own, within `n`.
    for (std::size_t at = 0; at + sizeof(inotify_event) <= static_cast<std::size_t>(n);) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
      at += sizeof(inotify_event) + e->len;
      if ((e->mask & IN_Q_OVERFLOW) != 0) relevant = true;
      if (e->len != 0 && std::string_view(e->name).starts_with(prefix_)) relevant = true;
    }
  }
  if (relevant) changed_();
}

}  // namespace shmq::daemon
