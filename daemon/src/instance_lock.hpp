// One shmqd per namespace: an exclusive fcntl lock on
// /dev/shm/shmq.<ns>.shmqd.lock, held for the daemon's lifetime. The kernel
// drops it when the process dies, however it dies, so a SIGKILLed daemon never
// leaves it stuck and nobody removes a file by hand.
#pragma once

#include <stdexcept>
#include <string>

#include "shmq/admin/file_lock.hpp"

namespace shmq::daemon {

// Another shmqd holds the namespace. what(): the line to print (it names
// the holder's pid when known).
class AlreadyRunning : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// On admin::instance_lock_object(ns) in /dev/shm: "shmq.<ns>.shmqd.lock".

class InstanceLock {
 public:
  // Takes the lock without waiting and writes this process's pid into the file.
  // Throws AlreadyRunning when another process holds it, shmq::Error when the
  // file cannot be opened or locked for another reason.
  //
  // A POSIX record lock (F_SETLK), so F_GETLK names the holder's pid even
  // before it wrote the file. It belongs to this process: it is not inherited
  // by fork (take it after daemonizing), and closing any other descriptor of
  // this file in this process would drop it (nothing else opens it).
  explicit InstanceLock(const std::string& ns);
  // Destruction closes the file: the lock goes; the file stays (see .cpp).

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  admin::FileLock lock_;
};

}  // namespace shmq::daemon
