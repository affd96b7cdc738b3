// Shared-memory segments in /dev/shm: create (space checked and reserved
// first), open, remove, list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shmq::detail {

// How an existing segment is opened and mapped. ReadOnly needs only read
// permission (O_RDONLY, PROT_READ): what observers use (shmq-cli stat, peek,
// check, dlq list), so a 0640 queue can be observed by its group. A store
// through a ReadOnly mapping is a SIGSEGV, so only code that never writes may
// run on one. ReadWrite needs write permission: clients, shmqd, and the
// commands that change a queue.
enum class Access : std::uint8_t { ReadOnly, ReadWrite };

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
  // Maps an existing object as `access` says. errc::not_found if absent,
  // errc::permission_denied if refused (the message says whether reading or
  // writing was refused).
  static Segment open(const std::string& name, Access access);
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
  // False for a ReadOnly mapping: data() must not be written through.
  [[nodiscard]] bool writable() const noexcept;

 private:
  struct Impl;
  explicit Segment(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Bytes free in the filesystem holding /dev/shm (statvfs f_bavail * f_frsize).
std::uint64_t shm_free_bytes();

}  // namespace shmq::detail
