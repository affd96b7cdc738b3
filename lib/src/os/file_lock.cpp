#include "os/file_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <utility>

#include "os/names.hpp"
#include "os/process.hpp"
#include "shmq/error.hpp"

namespace shmq::admin {

namespace {

// fcntl locks belong to the process: its threads do not exclude each other,
// and closing any descriptor of the file drops the lock. So the threads of
// this process take a per-path mutex first.
struct PathMutex {
  pid_t pid;  // the process that made it
  std::mutex mutex;
};

std::mutex& in_process_mutex(const std::string& path) {
  static std::mutex registry_mutex;
  // Leaked on purpose: a FileLock may outlive static destruction. Few paths.
  // NOLINTNEXTLINE(cppcoreguidelines-owning-memory,cppcoreguidelines-avoid-non-const-global-variables)
  static auto* mutexes = new std::map<std::string, PathMutex*>;
  const std::lock_guard guard(registry_mutex);
  PathMutex*& m = (*mutexes)[path];
  // After fork() the copy may be held by a thread that only exists in the
  // parent (whose fcntl lock the child does not inherit): start afresh, and
  // leak the copy, as destroying a locked mutex is undefined.
  if (m == nullptr || m->pid != ::getpid()) m = new PathMutex{::getpid(), {}};  // NOLINT(cppcoreguidelines-owning-memory)
  return m->mutex;
}

}  // namespace

namespace {

// Opens (creating with `mode`) the file to lock; never follows a symlink.
int open_lock_file(const std::string& path, unsigned mode) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd >= 0) return fd;
  const int err = errno;
  throw Error(err == EACCES ? errc::permission_denied : errc::system_error,
              "cannot open lock file " + detail::quote(path) + ": " + errno_text(err) +
                  (err == EACCES ? "; run as the user that owns it"
                                 : "; check that its directory exists and is writable"));
}

// F_SETLK or F_SETLKW of a write lock on the whole file; false when held
// elsewhere (F_SETLK only).
bool lock_whole_file(int fd, const std::string& path, bool wait) {
  for (;;) {
    struct flock l {};
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
    if (::fcntl(fd, wait ? F_SETLKW : F_SETLK, &l) == 0) return true;
    const int err = errno;
    if (err == EINTR) continue;
    if (!wait && (err == EAGAIN || err == EACCES)) return false;
    ::close(fd);
    throw Error(errc::system_error, "cannot lock " + detail::quote(path) + ": " + errno_text(err));
  }
}

}  // namespace

FileLock::FileLock(std::unique_lock<std::mutex> in_process, int fd) noexcept
    : in_process_(std::move(in_process)), fd_(fd) {}

FileLock::FileLock(const std::string& path, unsigned mode)
    : in_process_(in_process_mutex(path)), fd_(open_lock_file(path, mode)) {
  (void)lock_whole_file(fd_, path, true);
}

std::optional<FileLock> FileLock::try_take(const std::string& path, unsigned mode) {
  std::unique_lock in_process(in_process_mutex(path), std::try_to_lock);
  if (!in_process.owns_lock()) return std::nullopt;  // another thread of this process holds it
  const int file = open_lock_file(path, mode);
  if (!lock_whole_file(file, path, false)) {
    ::close(file);
    return std::nullopt;
  }
  return FileLock(std::move(in_process), file);
}

std::optional<pid_t> FileLock::holder(const std::string& path) {
  const int file = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (file < 0) return std::nullopt;
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  std::optional<pid_t> pid;
  if (::fcntl(file, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK) pid = probe.l_pid > 0 ? probe.l_pid : 0;
  ::close(file);
  return pid;
}

FileLock::FileLock(FileLock&& other) noexcept
    : in_process_(std::move(other.in_process_)), fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    in_process_ = std::move(other.in_process_);  // releases ours first
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // drops the record lock, then in_process_ is released
}

}  // namespace shmq::admin
