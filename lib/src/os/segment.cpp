// Segments: the only file that uses boost::interprocess; its exceptions
// become shmq::Error here.
#include "os/segment.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include "os/names.hpp"
#include "os/process.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {
namespace {

namespace bip = boost::interprocess;

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

// The one place Boost.Interprocess errors become shmq::Error. `refused` is
// what to say after "permission denied; ".
Error translate(const bip::interprocess_exception& e, const std::string& action, const std::string& name,
                const char* refused = "run as a user its mode allows (see ls -l /dev/shm)") {
  const std::string head = "cannot " + action + " " + quote(shm_path(name)) + ": ";
  switch (e.get_error_code()) {
    case bip::already_exists_error:
      return Error(errc::already_exists, head + "it already exists; delete it first, or run "
                                                "'shmq-cli gc' if a crashed instance left it");
    case bip::not_found_error:
      return Error(errc::not_found, head + "it does not exist; create the queue first or check "
                                           "the namespace (--namespace, $SHMQ_NAMESPACE)");
    case bip::security_error:
      return Error(errc::permission_denied, head + "permission denied; " + refused);
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

}  // namespace

struct Segment::Impl {
  std::string name;
  bip::mapped_region region;
  bool writable = true;
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
bool Segment::writable() const noexcept { return impl_ && impl_->writable; }

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
    return Segment(std::make_unique<Impl>(Impl{name, std::move(region), true}));
  } catch (const bip::interprocess_exception& e) {
    throw translate(e, "create shared-memory segment", name);
  }
}

Segment Segment::open(const std::string& name, Access access) {
  const bool read_write = access == Access::ReadWrite;
  // Read-only: O_RDONLY and PROT_READ, so read permission is enough.
  const bip::mode_t mode = read_write ? bip::read_write : bip::read_only;
  try {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), mode);
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
    bip::mapped_region region(shm, mode);
    return Segment(std::make_unique<Impl>(Impl{name, std::move(region), read_write}));
  } catch (const bip::interprocess_exception& e) {
    if (!read_write) {
      throw translate(e, "open shared-memory segment", name,
                      "reading needs read permission: run as a user its mode lets read it (see ls -l /dev/shm)");
    }
    throw translate(e, "open shared-memory segment for writing", name,
                    "this needs write permission, and this user may not write it (reading needs only read "
                    "permission): run as a user its mode lets write it (see ls -l /dev/shm)");
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

}  // namespace shmq::detail
