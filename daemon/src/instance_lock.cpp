#include "instance_lock.hpp"

#include <cerrno>
#include <fstream>
#include <optional>
#include <utility>

#include <unistd.h>

#include "shmq/admin/file_lock.hpp"
#include "shmq/admin/namespace.hpp"
#include "shmq/admin/system.hpp"
#include "shmq/error.hpp"

namespace shmq::daemon {

namespace {

// The pid the holder wrote into the file, 0 if none (yet) or unreadable.
pid_t pid_in_file(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  return static_cast<pid_t>(pid);
}

[[noreturn]] void already_running(const std::string& ns, const std::string& path, pid_t pid) {
  if (pid == 0) pid = pid_in_file(path);  // a holder in another pid namespace
  const std::string who = pid > 0 ? "pid " + std::to_string(pid) : "pid unknown";
  throw AlreadyRunning("another shmqd (" + who + ") already runs namespace \"" + ns + "\"; stop it first");
}

admin::FileLock take(const std::string& ns, const std::string& path) {
  // A holder that exits between our try and our probe leaves no lock to
  // report: try again (a few times: each round needs a new daemon to race).
  for (int attempt = 0;; ++attempt) {
    std::optional<admin::FileLock> lock;
    try {
      lock = admin::FileLock::try_take(path, 0644);  // 0644: anyone may read which pid runs it
    } catch (const Error& e) {
      // Not ours to write (another user's daemon made it): say who holds it, if anyone.
      if (e.value() != errc::permission_denied) throw;
      if (const auto pid = admin::FileLock::holder(path)) already_running(ns, path, *pid);
      throw Error(errc::permission_denied,
                  std::string(e.what()) + "; or remove it if no shmqd runs");
    }
    if (lock) return std::move(*lock);
    const std::optional<pid_t> pid = admin::FileLock::holder(path);
    if (pid || attempt >= 3) already_running(ns, path, pid.value_or(0));
  }
}

}  // namespace

InstanceLock::InstanceLock(const std::string& ns)
    : path_(admin::object_path(admin::instance_lock_object(ns))), lock_(take(ns, path_)) {
  // Ours now: replace the previous holder's pid with ours.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_.fd(), 0) != 0 ||
      ::pwrite(lock_.fd(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    throw Error(errc::system_error, "cannot write the pid into " + path_ + ": " + admin::errno_text(err));
  }
}

// The file is not removed: unlinking it would let a starting daemon lock the
// removed inode while a third creates a new file, and two would run. A stale
// file is harmless: whoever locks it next overwrites the pid.

}  // namespace shmq::daemon
