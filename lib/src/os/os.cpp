// Operating-system services: names, segments, file locks, futexes, /proc.
// The only file that uses boost::interprocess; its exceptions become
// shmq::Error here.
#include "os/os.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include "shmq/error.hpp"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace shmq::detail {
namespace {

namespace bip = boost::interprocess;

std::string quote(std::string_view s) { return "'" + printable(s) + "'"; }

bool is_name_char(char c, bool allow_dot) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || (allow_dot && c == '.');
}

// "." and ".." would be path components once embedded in a /dev/shm name.
void validate_name(const char* what, const std::string& value, std::size_t max_len, bool allow_dot,
                   const char* origin = "") {
  const bool ok =
      !value.empty() && value.size() <= max_len && value != "." && value != ".." &&
      std::all_of(value.begin(), value.end(), [&](char c) { return is_name_char(c, allow_dot); });
  if (ok) return;
  throw Error(errc::invalid_argument,
              std::string(what) + " " + quote(value) + origin + " is invalid: use 1-" +
                  std::to_string(max_len) + " characters from " +
                  (allow_dot ? "[A-Za-z0-9._-], not '.' or '..'" : "[A-Za-z0-9_-]"));
}

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

std::string no_space_message(const std::string& name, std::uint64_t needed,
                             std::uint64_t free_bytes) {
  return "cannot create shared-memory segment " + quote(name) + ": it needs " +
         std::to_string(needed) + " bytes (" + mib(needed) + "), " + kShmDir + " has " +
         std::to_string(free_bytes) + " bytes (" + mib(free_bytes) +
         ") free; free space in /dev/shm (shmq-cli gc removes leftovers), use a smaller "
         "capacity or slot size, or enlarge /dev/shm (e.g. docker run --shm-size)";
}

// The one place Boost.Interprocess errors become shmq::Error.
Error translate(const bip::interprocess_exception& e, const char* action, const std::string& name) {
  const std::string head = "cannot " + std::string(action) + " " + quote(shm_path(name)) + ": ";
  switch (e.get_error_code()) {
    case bip::already_exists_error:
      return Error(errc::already_exists, head + "it already exists; delete it first, or run "
                                                "'shmq-cli gc' if a crashed instance left it");
    case bip::not_found_error:
      return Error(errc::not_found, head + "it does not exist; create the queue first or check "
                                           "the namespace (--namespace, $SHMQ_NAMESPACE)");
    case bip::security_error:
      return Error(errc::permission_denied, head + "permission denied; run as a user its mode "
                                                   "allows (see ls -l /dev/shm)");
    default:
      return Error(errc::system_error, head + e.what() + " (errno " +
                                           std::to_string(e.get_native_error()) + ")");
  }
}

// Unlinks a half-created segment unless dismissed, so a failed create leaves
// nothing in /dev/shm.
class RemoveUnlessDismissed {
 public:
  explicit RemoveUnlessDismissed(const std::string& name) : name_(name) {}
  ~RemoveUnlessDismissed() {
    if (!dismissed_) bip::shared_memory_object::remove(name_.c_str());
  }
  RemoveUnlessDismissed(const RemoveUnlessDismissed&) = delete;
  RemoveUnlessDismissed& operator=(const RemoveUnlessDismissed&) = delete;
  void dismiss() noexcept { dismissed_ = true; }

 private:
  const std::string& name_;
  bool dismissed_ = false;
};

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

// ---- names -----------------------------------------------------------------

void validate_queue_name(const std::string& name) { validate_name("queue name", name, 64, true); }
void validate_group_name(const std::string& name) { validate_name("group name", name, 64, true); }
// No '.' in namespaces: "shmq.<ns>." must never be a prefix of another
// namespace's objects ("a" vs "a.q.b"), or gc of one would delete the other.
void validate_namespace(const std::string& ns) { validate_name("namespace", ns, 32, false); }

std::string resolve_namespace(const std::string& explicit_ns) {
  if (!explicit_ns.empty()) {
    validate_namespace(explicit_ns);
    return explicit_ns;
  }
  const char* env = std::getenv("SHMQ_NAMESPACE");
  if (env == nullptr || *env == '\0') return "default";
  validate_name("namespace", env, 32, false, " (from $SHMQ_NAMESPACE)");
  return env;
}

std::string namespace_prefix(const std::string& ns) { return "shmq." + ns + "."; }
std::string registry_segment_name(const std::string& ns) {
  return namespace_prefix(ns) + "registry";
}
std::string queue_segment_name(const std::string& ns, const std::string& queue) {
  return namespace_prefix(ns) + "q." + queue;
}
std::string namespace_lock_path(const std::string& ns) { return shm_path("shmq." + ns + ".lock"); }
std::string shm_path(const std::string& name) { return std::string(kShmDir) + "/" + name; }
std::string instance_lock_path(const std::string& ns) { return shm_path(namespace_prefix(ns) + "shmqd.lock"); }

// ---- segments --------------------------------------------------------------

struct Segment::Impl {
  std::string name;
  bip::mapped_region region;
};

Segment::Segment(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Segment::Segment(Segment&&) noexcept = default;
Segment& Segment::operator=(Segment&&) noexcept = default;
Segment::~Segment() = default;

std::byte* Segment::data() const noexcept {
  return impl_ ? static_cast<std::byte*>(impl_->region.get_address()) : nullptr;
}
std::size_t Segment::size() const noexcept { return impl_ ? impl_->region.get_size() : 0; }
const std::string& Segment::name() const noexcept {
  static const std::string kEmpty;
  return impl_ ? impl_->name : kEmpty;
}

std::uint64_t shm_free_bytes() {
  struct statvfs vfs {};
  if (::statvfs(kShmDir, &vfs) != 0) {
    throw Error(errc::system_error, std::string("cannot statvfs ") + kShmDir + ": " +
                                        errno_text(errno) + "; is /dev/shm mounted (tmpfs)?");
  }
  return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

Segment Segment::create(const std::string& name, std::size_t size, unsigned mode) {
  if (size == 0) {
    throw Error(errc::invalid_argument,
                "segment " + quote(name) + " of size 0: give at least 1 byte");
  }
  if ((mode & ~0777U) != 0) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0%o", mode);
    throw Error(errc::invalid_argument, "segment mode " + std::string(buf) +
                                            " is invalid: use permission bits only (e.g. 0600)");
  }
  const std::uint64_t free_bytes = shm_free_bytes();
  if (free_bytes < size) throw Error(errc::no_space, no_space_message(name, size, free_bytes));
  try {
    bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write,
                                  bip::permissions(static_cast<int>(mode)));  // <= 0777, checked above
    RemoveUnlessDismissed guard(name);
    const int fd = shm.get_mapping_handle().handle;
    // The umask applies to shm_open's mode; the caller asked for exactly `mode`.
    if (::fchmod(fd, mode) != 0) {
      throw Error(errc::system_error,
                  "cannot chmod " + quote(shm_path(name)) + ": " + errno_text(errno));
    }
    shm.truncate(static_cast<bip::offset_t>(size));
    // Reserve every page now: on a full tmpfs a later first touch is a SIGBUS.
    int rc = 0;
    do {
      rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
    } while (rc == EINTR);
    if (rc == ENOSPC) throw Error(errc::no_space, no_space_message(name, size, shm_free_bytes()));
    if (rc != 0) {
      throw Error(errc::system_error, "cannot reserve " + std::to_string(size) + " bytes for " +
                                          quote(shm_path(name)) +
                                          ": posix_fallocate: " + errno_text(rc));
    }
    bip::mapped_region region(shm, bip::read_write);
    guard.dismiss();
    return Segment(std::make_unique<Impl>(Impl{name, std::move(region)}));
  } catch (const bip::interprocess_exception& e) {
    throw translate(e, "create shared-memory segment", name);
  }
}

Segment Segment::open(const std::string& name) {
  try {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_write);
    bip::offset_t bytes = 0;
    if (!shm.get_size(bytes)) {
      throw Error(errc::system_error,
                  "cannot read the size of " + quote(shm_path(name)) + ": " + errno_text(errno));
    }
    if (bytes == 0) {
      throw Error(errc::corrupt_segment,
                  "shared-memory segment " + quote(shm_path(name)) +
                      " is empty (truncated?); delete the queue or run 'shmq-cli gc'");
    }
    bip::mapped_region region(shm, bip::read_write);
    return Segment(std::make_unique<Impl>(Impl{name, std::move(region)}));
  } catch (const bip::interprocess_exception& e) {
    throw translate(e, "open shared-memory segment", name);
  }
}

bool Segment::remove(const std::string& name) noexcept {
  return bip::shared_memory_object::remove(name.c_str());
}

std::vector<std::string> Segment::list(const std::string& prefix) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(kShmDir), &::closedir);
  if (!dir) {
    throw Error(errc::system_error, std::string("cannot list ") + kShmDir + ": " +
                                        errno_text(errno) + "; is /dev/shm mounted (tmpfs)?");
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string_view n = entry->d_name;
    if (n != "." && n != ".." && n.starts_with(prefix)) names.emplace_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ---- file lock -------------------------------------------------------------

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
              "cannot open lock file " + quote(path) + ": " + errno_text(err) +
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
    throw Error(errc::system_error, "cannot lock " + quote(path) + ": " + errno_text(err));
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

// ---- futex -----------------------------------------------------------------

void futex_wait(const std::uint32_t* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout.count() >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    tsp = &ts;
  }
  // FUTEX_WAIT only reads the word; the kernel API takes a non-const pointer.
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): see above
  ::syscall(SYS_futex, const_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, tsp, nullptr, 0);
}

void futex_wake_all(const std::uint32_t* word) noexcept {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): FUTEX_WAKE does not write the word either
  ::syscall(SYS_futex, const_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// ---- processes ------------------------------------------------------------

std::uint64_t process_start_time(pid_t pid) noexcept {
  const auto st = read_proc_stat(pid);
  return st ? st->start_time : 0;
}

bool process_alive(pid_t pid, std::uint64_t start_time) noexcept {
  const auto st = read_proc_stat(pid);
  // 'Z' zombie, 'X'/'x' dead: exited, only not reaped yet.
  return st && st->start_time == start_time && st->state != 'Z' && st->state != 'X' &&
         st->state != 'x';
}

std::string process_name(pid_t pid) {
  char buf[64];
  if (!read_proc_file(pid, "comm", buf, sizeof buf)) return "";
  std::string name = buf;
  if (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

std::string printable(std::string_view s) {
  constexpr std::size_t kMax = 80;  // longer values are cut
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (s.size() > kMax) out += "...";
  return out;
}

std::string octal(unsigned mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", mode);
  return buf;
}

}  // namespace shmq::detail
