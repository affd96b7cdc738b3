// Names and paths: what a queue, group or namespace may be called, which
// object in /dev/shm each becomes (the one place paths are built), and how
// outside values appear in messages.
#pragma once

#include <string>
#include <string_view>

namespace shmq::detail {

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
// printable(s) in single quotes.
std::string quote(std::string_view s);

// The directory every segment and lock file lives in.
inline constexpr const char* kShmDir = "/dev/shm";

// Object names in /dev/shm (no leading slash): "shmq.<ns>.registry",
// "shmq.<ns>.q.<queue>". The lock file is "/dev/shm/shmq.<ns>.lock".
std::string registry_segment_name(const std::string& ns);
std::string queue_segment_name(const std::string& ns, const std::string& queue);
// What every queue object of a namespace starts with: "shmq.<ns>.q."
std::string queue_prefix(const std::string& ns);
std::string namespace_lock_path(const std::string& ns);
// Prefix shared by every object of a namespace: "shmq.<ns>."
std::string namespace_prefix(const std::string& ns);
// The path of the object `name` in kShmDir: the one place paths are built.
std::string shm_path(const std::string& name);
// shmqd's instance lock: "shmq.<ns>.shmqd.lock", in kShmDir.
std::string instance_lock_name(const std::string& ns);
std::string instance_lock_path(const std::string& ns);

}  // namespace shmq::detail
