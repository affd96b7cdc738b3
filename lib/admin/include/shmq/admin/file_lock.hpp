// The one file lock (fcntl record locks) and its holder probe: the namespace
// lock, shmqd's instance lock, gc's probe. Defined in lib/src/os/file_lock.cpp.
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include <sys/types.h>

namespace shmq::admin {

// An exclusive POSIX record lock (fcntl) on a whole file, held until
// destruction: the namespace lock, shmqd's instance lock, gc's probe. The
// kernel drops it when the holder dies, so a crash never leaves it stuck. The
// file is created with `mode` if missing, never through a symlink. Record
// locks belong to the process, so the threads of one process take a per-path
// mutex first; and closing any descriptor of the file drops the lock, so a
// process holding it must not open the file otherwise (holder() does).
class FileLock {
 public:
  // Waits until the lock is free.
  explicit FileLock(const std::string& path, unsigned mode = 0644);
  // Takes the lock only if it is free: nullopt if another process or thread
  // holds it.
  static std::optional<FileLock> try_take(const std::string& path, unsigned mode = 0644);
  // Who holds a lock on `path` now: nullopt if nobody does (or there is no
  // such file), 0 if a process whose pid this one cannot see.
  static std::optional<pid_t> holder(const std::string& path);

  ~FileLock();
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  // The locked file's descriptor (shmqd writes its pid into it).
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  FileLock(std::unique_lock<std::mutex> in_process, int fd) noexcept;
  // Taken before the file is opened (closing a descriptor of the file would
  // drop another thread's lock), released after it is closed.
  std::unique_lock<std::mutex> in_process_;
  int fd_ = -1;
};

}  // namespace shmq::admin
