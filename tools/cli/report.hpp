// How stat, list and watch show a queue: the JSON with its stable keys and the
// human tables (docs/cli.md documents both).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "shmq/admin/report.hpp"

namespace shmq::cli {

// One consumer of a group as stat shows it: a session that consumes the group
// (its attachment says so) or holds leases of it (perhaps a dead one).
struct ConsumerView {
  admin::SessionInfo session;
  std::uint32_t leased = 0;
  std::uint64_t oldest_commit_ns = 0;
};
std::vector<ConsumerView> consumers_of(const admin::QueueStats& st, std::uint32_t g, const admin::Namespace& reg,
                                       std::uint64_t now_ns);

// "at-least-once" | "at-most-once"
const char* mode_text(const admin::GroupStats& g) noexcept;

// stat QUEUE --json: {"name","namespace","capacity","slot_size","free",...,"groups":[...],"sessions":[...]}
nlohmann::ordered_json stat_json(const std::string& ns, const std::string& name, const admin::QueueStats& st,
                         const admin::Namespace& reg, std::uint64_t now_ns);
// stat QUEUE: the same for people.
std::string stat_text(const std::string& ns, const std::string& name, const admin::QueueStats& st,
                      const admin::Namespace& reg, std::uint64_t now_ns);

// Columns padded to the widest cell; the first row is the header.
std::string table(const std::vector<std::vector<std::string>>& rows);

}  // namespace shmq::cli
