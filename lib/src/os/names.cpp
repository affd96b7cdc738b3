#include "os/names.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "shmq/error.hpp"

namespace shmq::detail {
namespace {

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

}  // namespace

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
std::string queue_prefix(const std::string& ns) { return namespace_prefix(ns) + "q."; }
std::string queue_segment_name(const std::string& ns, const std::string& queue) { return queue_prefix(ns) + queue; }
std::string namespace_lock_path(const std::string& ns) { return shm_path("shmq." + ns + ".lock"); }
std::string shm_path(const std::string& name) { return std::string(kShmDir) + "/" + name; }
std::string instance_lock_name(const std::string& ns) { return namespace_prefix(ns) + "shmqd.lock"; }
std::string instance_lock_path(const std::string& ns) { return shm_path(instance_lock_name(ns)); }

std::string quote(std::string_view s) { return "'" + printable(s) + "'"; }

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
