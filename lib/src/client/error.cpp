// shmq's error category and status names.
#include "shmq/error.hpp"

#include <string>

namespace shmq {
namespace {

class Category final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "shmq"; }

  [[nodiscard]] std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_argument: return "invalid argument";
      case errc::not_found: return "not found";
      case errc::already_exists: return "already exists";
      case errc::permission_denied: return "permission denied";
      case errc::no_space: return "not enough space in /dev/shm";
      case errc::corrupt_segment: return "corrupt shared-memory segment";
      case errc::version_mismatch: return "segment layout version mismatch";
      case errc::namespace_mismatch: return "segment belongs to another namespace";
      case errc::too_many_sessions: return "too many sessions";
      case errc::fenced: return "session fenced";
      case errc::daemon_unavailable: return "daemon unavailable";
      case errc::timeout: return "timed out";
      case errc::system_error: return "system error";
    }
    return "unknown shmq error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

const char* to_string(Status s) noexcept {
  switch (s) {
    case Status::Ok: return "Ok";
    case Status::QueueFull: return "QueueFull";
    case Status::Empty: return "Empty";
    case Status::Timeout: return "Timeout";
    case Status::MessageTooLarge: return "MessageTooLarge";
    case Status::LeaseLost: return "LeaseLost";
    case Status::Fenced: return "Fenced";
    case Status::InvalidHandle: return "InvalidHandle";
    case Status::QueueDeleted: return "QueueDeleted";
  }
  return "Unknown";
}

}  // namespace shmq
