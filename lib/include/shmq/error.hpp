// Errors of libshmq.
//
// Two kinds, never mixed:
//  * setup and misuse throw shmq::Error: a std::system_error whose code is a
//    shmq::errc and whose message names the bad value and what to do about it;
//  * hot paths (loan, commit, receive, ack, ...) return a shmq::Status and never
//    throw for QueueFull, Timeout, LeaseLost.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

namespace shmq {

// Why a setup or management call failed. Values are stable: tools map them to
// exit codes.
enum class errc : int {
  invalid_argument = 1,  // a bad name, size, count or option
  not_found,             // no such queue, namespace or segment
  already_exists,        // a queue of that name exists
  permission_denied,     // the OS or the daemon refused
  no_space,              // /dev/shm has too little room
  corrupt_segment,       // bad magic, checksum, sizes or truncated file
  version_mismatch,      // a segment of another layout version
  namespace_mismatch,    // a segment of another namespace
  too_many_sessions,     // the session table is full
  fenced,                // this session was declared dead by the watchdog
  daemon_unavailable,    // no shmqd answers in this namespace
  timeout,               // a bounded wait ran out during setup
  system_error,          // an OS call failed; the message names it
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

class Error : public std::system_error {
 public:
  Error(errc code, const std::string& what) : std::system_error(make_error_code(code), what), what_(what) {}
  [[nodiscard]] errc value() const noexcept { return static_cast<errc>(code().value()); }
  // Just the message (std::system_error would append the category's text).
  [[nodiscard]] const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

// Outcome of a hot-path call. Everything but Ok leaves the queue unchanged by
// this call (MessageTooLarge writes nothing; LeaseLost changes nothing).
enum class Status : std::uint8_t {
  Ok = 0,
  QueueFull,        // no free slot (try_ form, or the deadline passed)
  Empty,            // nothing to receive (try_ form)
  Timeout,          // the deadline passed while waiting
  MessageTooLarge,  // more bytes than the queue's slot_size
  LeaseLost,        // the lease (or loan) was taken back: expired, fenced, recovered
  Fenced,           // this session was declared dead; re-attach with a new Client
  InvalidHandle,    // the loan or message was already used up (or is empty)
  QueueDeleted,     // the queue was deleted (its messages with it); open it again once it is created again
};

// A short name for logs and tools ("QueueFull").
const char* to_string(Status s) noexcept;

}  // namespace shmq

template <>
struct std::is_error_code_enum<shmq::errc> : std::true_type {};
