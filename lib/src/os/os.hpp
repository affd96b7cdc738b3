// Operating-system services libshmq needs: shared-memory segments, futexes,
// process identity. Everything that makes a system call on the setup path lives
// behind this header; the ring and state-machine code never includes it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "shmq/admin/system.hpp"

namespace shmq::detail {

// Clocks, pidfd_open, errno text and UniqueFd: shared with the programs.
using admin::cpu_relax;
using admin::errno_text;
using admin::monotonic_ms_not_before;
using admin::monotonic_ns;
using admin::pidfd_open;
using admin::realtime_ns;
using admin::thread_cpu_ns;
using admin::UniqueFd;

// ---- names -----------------------------------------------------------------

// Queue and group names: [A-Za-z0-9._-]{1,64}. Namespaces: [A-Za-z0-9_-]{1,32}
// (no dot: object names are split at dots, so "a.q" would shadow namespace "a").
// Throw shmq::Error(errc::invalid_argument) naming the bad value and the rule.
void validate_queue_name(const std::string& name);
void validate_group_name(const std::string& name);
void validate_namespace(const std::string& ns);

// The namespace to use: `explicit_ns` if non-empty, else $SHMQ_NAMESPACE, else
// "default". Validated.
std::string resolve_namespace(const std::string& explicit_ns);

// Permission bits as people write them: "0640".
std::string octal(unsigned mode);



// A value from outside (a name, a request) as it may appear in a message or a
// log line: non-printable bytes as \xNN, cut after 80 bytes, so it cannot
// garble the line.
std::string printable(std::string_view s);

// The directory every segment and lock file lives in.
inline constexpr const char* kShmDir = "/dev/shm";

// Object names in /dev/shm (no leading slash): "shmq.<ns>.registry",
// "shmq.<ns>.q.<queue>". The lock file is "/dev/shm/shmq.<ns>.lock".
std::string registry_segment_name(const std::string& ns);
std::string queue_segment_name(const std::string& ns, const std::string& queue);
std::string namespace_lock_path(const std::string& ns);
// Prefix shared by every object of a namespace: "shmq.<ns>."
std::string namespace_prefix(const std::string& ns);
// The path of the object `name` in kShmDir: the one place paths are built.
std::string shm_path(const std::string& name);
// shmqd's instance lock: "/dev/shm/shmq.<ns>.shmqd.lock".
std::string instance_lock_path(const std::string& ns);

// ---- segments --------------------------------------------------------------

// A mapped POSIX shared-memory object (Boost.Interprocess shared_memory_object +
// mapped_region). Boost exceptions are translated to shmq::Error here and
// nowhere else. Movable, not copyable; unmaps on destruction (never unlinks).
class Segment {
 public:
  // Creates a new object (fails with errc::already_exists if it exists),
  // checks free space in /dev/shm with statvfs first (errc::no_space naming
  // the bytes needed and free), sets its size, reserves every byte with
  // posix_fallocate (so a full tmpfs is an error now, never a SIGBUS later),
  // and maps it read-write. `mode` is the permission bits (e.g. 0600).
  static Segment create(const std::string& name, std::size_t size, unsigned mode);
  // Maps an existing object read-write. errc::not_found if absent,
  // errc::permission_denied if refused.
  static Segment open(const std::string& name);
  // Removes the name from /dev/shm; mappings stay valid. True if it existed.
  static bool remove(const std::string& name) noexcept;
  // Names in /dev/shm starting with `prefix`.
  static std::vector<std::string> list(const std::string& prefix);

  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  [[nodiscard]] std::byte* data() const noexcept;
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] const std::string& name() const noexcept;

 private:
  struct Impl;
  explicit Segment(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Bytes free in the filesystem holding /dev/shm (statvfs f_bavail * f_frsize).
std::uint64_t shm_free_bytes();

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

// ---- futex -----------------------------------------------------------------

// Waits while *word == expected, at most `timeout` (negative: forever).
// Shared (not FUTEX_PRIVATE): works across processes. Returns on wake, value
// change, timeout, or signal; callers re-check their condition.
void futex_wait(const std::uint32_t* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout) noexcept;
// Wakes every waiter on `word`.
void futex_wake_all(const std::uint32_t* word) noexcept;

// ---- processes -------------------------------------------------------------

// The process's start time in clock ticks since boot (field 22 of
// /proc/<pid>/stat), 0 if the process does not exist. pid + start time names a
// process uniquely: a reused pid has another start time.
std::uint64_t process_start_time(pid_t pid) noexcept;

// True if a process with this pid and start time exists (not a zombie).
bool process_alive(pid_t pid, std::uint64_t start_time) noexcept;


// The short command name of a process (/proc/<pid>/comm), "" if unknown.
std::string process_name(pid_t pid);

}  // namespace shmq::detail
