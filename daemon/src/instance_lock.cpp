#include "instance_lock.hpp"

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>

#include "os/os.hpp"
#include "shmq/error.hpp"

namespace shmq::daemon {

namespace {

// The pid the holder wrote into the file, 0 if none (yet).
pid_t pid_in_file(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  long pid = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid = pid * 10 + (buf[i] - '0');
  return static_cast<pid_t>(pid);
}

// The process holding a conflicting lock: -1 when there is none any more, 0
// when it is held but its pid is unknown (a holder in another pid namespace).
pid_t holder_of(int fd) {
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  if (::fcntl(fd, F_GETLK, &probe) != 0) return pid_in_file(fd);
  if (probe.l_type == F_UNLCK) return -1;
  return probe.l_pid > 0 ? probe.l_pid : pid_in_file(fd);
}

[[noreturn]] void already_running(const std::string& ns, pid_t pid) {
  const std::string who = pid > 0 ? "pid " + std::to_string(pid) : "pid unknown";
  throw AlreadyRunning("another shmqd (" + who + ") already runs namespace \"" + ns + "\"; stop it first", pid);
}

}  // namespace


// 0644: anyone may read which pid runs the namespace.
InstanceLock::InstanceLock(const std::string& ns)
    : path_(detail::instance_lock_path(ns)), fd_(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) {
  if (fd_ < 0) {
    const int err = errno;
    // Not ours to write (another user's daemon made it): say who holds it, if anyone.
    const int ro = err == EACCES ? ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (ro >= 0) {
      const pid_t holder = holder_of(ro);
      ::close(ro);
      if (holder >= 0) already_running(ns, holder);
    }
    throw Error(err == EACCES ? errc::permission_denied : errc::system_error,
                "cannot open the instance lock " + path_ + ": " + detail::errno_text(err) +
                    (err == EACCES ? "; run shmqd as the user that owns it, or remove it if no shmqd runs" : ""));
  }
  // A holder that exits between our F_SETLK and F_GETLK leaves no lock to
  // report: try again (a few times: each round needs a new daemon to race).
  for (int attempt = 0;; ++attempt) {
    struct flock l {};
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
    if (::fcntl(fd_, F_SETLK, &l) == 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EACCES) {
      ::close(fd_);
      throw Error(errc::system_error, "cannot lock " + path_ + ": fcntl(F_SETLK): " + detail::errno_text(err));
    }
    const pid_t holder = holder_of(fd_);
    if (holder >= 0 || attempt >= 3) {
      ::close(fd_);
      already_running(ns, holder < 0 ? 0 : holder);
    }
  }
  // Ours now: replace the previous holder's pid with ours.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    ::close(fd_);
    throw Error(errc::system_error, "cannot write the pid into " + path_ + ": " + detail::errno_text(err));
  }
}

// The file is not removed: unlinking it would let a starting daemon lock the
// removed inode while a third creates a new file, and two would run. A stale
// file is harmless: whoever locks it next overwrites the pid.
InstanceLock::~InstanceLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace shmq::daemon
