#include "report.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace shmq::cli {

namespace {

nlohmann::ordered_json age_json(std::optional<std::uint64_t> ms) {
  return ms ? nlohmann::ordered_json(*ms) : nlohmann::ordered_json(nullptr);
}

std::optional<std::uint64_t> age_of(std::uint64_t commit_ns, std::uint64_t now_ns) {
  if (commit_ns == 0) return std::nullopt;
  return age_ms(commit_ns, now_ns);
}

}  // namespace

const char* mode_text(const admin::GroupStats& g) noexcept {
  return admin::delivery_name(g.at_most_once ? DeliveryMode::AtMostOnce : DeliveryMode::AtLeastOnce);
}

std::vector<ConsumerView> consumers_of(const admin::QueueStats& st, std::uint32_t g, const admin::Namespace& reg,
                                       std::uint64_t now_ns) {
  std::map<admin::SessionId, ConsumerView> by_owner;
  for (const admin::AttachmentStats& a : st.attachments)
    if (((a.groups >> g) & 1U) != 0) by_owner[a.owner].session = reg.session(a.owner, now_ns);
  for (const admin::HolderStats& h : st.groups[g].holders) {
    ConsumerView& c = by_owner[h.owner];
    if (c.session.id == admin::kNoSession) c.session = reg.session(h.owner, now_ns);
    c.leased = h.leased;
    c.oldest_commit_ns = h.oldest_commit_ns;
  }
  std::vector<ConsumerView> out;
  out.reserve(by_owner.size());
  for (auto& [owner, c] : by_owner) out.push_back(std::move(c));
  return out;
}

nlohmann::ordered_json stat_json(const std::string& ns, const std::string& name, const admin::QueueStats& st,
                         const admin::Namespace& reg, std::uint64_t now_ns) {
  nlohmann::ordered_json j = {
      {"name", name},
      {"namespace", ns},
      {"capacity", st.capacity},
      {"slot_size", st.slot_size},
      {"free", st.free},
      {"loaned", st.loaned},
      {"quarantined", st.quarantined},
      {"tail", st.tail},
      {"dead_letters", st.dead_letters},
      {"dlq_capacity", st.dlq_capacity},
  };
  nlohmann::ordered_json groups = nlohmann::ordered_json::array();
  for (std::uint32_t g = 0; g < st.groups.size(); ++g) {
    const admin::GroupStats& gs = st.groups[g];
    nlohmann::ordered_json consumers = nlohmann::ordered_json::array();
    for (const ConsumerView& c : consumers_of(st, g, reg, now_ns))
      consumers.push_back({{"session", c.session.id},
                           {"pid", c.session.pid},
                           {"state", admin::liveness_name(c.session.liveness)},
                           {"leased", c.leased},
                           {"oldest_leased_age_ms", age_json(age_of(c.oldest_commit_ns, now_ns))},
                           {"heartbeat_age_ms", age_json(c.session.heartbeat_age_ms)}});
    groups.push_back({{"name", gs.name},
                      {"mode", mode_text(gs)},
                      {"max_deliveries", gs.max_deliveries},
                      {"lease_timeout_ms", gs.lease_timeout_ms},
                      {"ready", gs.ready},
                      {"pending", gs.pending},
                      {"leased", gs.leased},
                      {"lag", gs.lag},
                      {"delivered", gs.delivered},
                      {"acked", gs.acked},
                      {"redelivered", gs.redelivered},
                      {"expired", gs.expired},
                      {"dead_lettered", gs.dead_lettered},
                      {"recovered", gs.recovered},
                      {"dropped", gs.dropped},
                      {"oldest_unacked_age_ms", age_json(age_of(gs.oldest_unacked_commit_ns, now_ns))},
                      {"consumers", std::move(consumers)}});
  }
  j["groups"] = std::move(groups);
  nlohmann::ordered_json sessions = nlohmann::ordered_json::array();
  for (const admin::AttachmentStats& a : st.attachments) {
    const admin::SessionInfo s = reg.session(a.owner, now_ns);
    sessions.push_back({{"session", a.owner},
                        {"pid", s.pid},
                        {"comm", s.comm},
                        {"role", roles_text(a)},
                        {"heartbeat_age_ms", age_json(s.heartbeat_age_ms)},
                        {"state", admin::liveness_name(s.liveness)}});
  }
  j["sessions"] = std::move(sessions);
  return j;
}

std::string stat_text(const std::string& ns, const std::string& name, const admin::QueueStats& st,
                      const admin::Namespace& reg, std::uint64_t now_ns) {
  std::string out = fmt::format(
      "queue {} (namespace {}): capacity {}, slot size {} B, free {}, loaned {}{}, dead letters {}/{}\n\n", name, ns,
      st.capacity, st.slot_size, st.free, st.loaned,
      st.quarantined != 0 ? fmt::format(", quarantined {}", st.quarantined) : "", st.dead_letters, st.dlq_capacity);
  std::vector<std::vector<std::string>> rows{{"GROUP", "MODE", "READY", "PENDING", "LEASED", "LAG", "DELIVERED",
                                              "ACKED", "REDELIVERED", "EXPIRED", "RECOVERED", "DROPPED", "DEAD",
                                              "OLDEST UNACKED"}};
  for (const admin::GroupStats& g : st.groups)
    rows.push_back({g.name, mode_text(g), std::to_string(g.ready), std::to_string(g.pending),
                    std::to_string(g.leased), std::to_string(g.lag), std::to_string(g.delivered),
                    std::to_string(g.acked), std::to_string(g.redelivered), std::to_string(g.expired),
                    std::to_string(g.recovered), std::to_string(g.dropped), std::to_string(g.dead_lettered), age_text(age_of(g.oldest_unacked_commit_ns, now_ns))});
  out += table(rows);

  std::vector<std::vector<std::string>> consumers{
      {"GROUP", "SESSION", "PID", "COMMAND", "LEASED", "OLDEST LEASED", "HEARTBEAT", "STATE"}};
  for (std::uint32_t g = 0; g < st.groups.size(); ++g)
    for (const ConsumerView& c : consumers_of(st, g, reg, now_ns))
      consumers.push_back({st.groups[g].name, std::to_string(c.session.id), std::to_string(c.session.pid),
                           c.session.comm.empty() ? "-" : c.session.comm, std::to_string(c.leased),
                           age_text(age_of(c.oldest_commit_ns, now_ns)), age_text(c.session.heartbeat_age_ms),
                           admin::liveness_name(c.session.liveness)});
  out += "\nconsumers:\n";
  out += consumers.size() > 1 ? table(consumers) : "  none\n";

  std::vector<std::vector<std::string>> sessions{{"SESSION", "PID", "COMMAND", "ROLE", "HEARTBEAT", "STATE"}};
  for (const admin::AttachmentStats& a : st.attachments) {
    const admin::SessionInfo s = reg.session(a.owner, now_ns);
    sessions.push_back({std::to_string(a.owner), std::to_string(s.pid), s.comm.empty() ? "-" : s.comm,
                        roles_text(a), age_text(s.heartbeat_age_ms), admin::liveness_name(s.liveness)});
  }
  out += "\nsessions attached:\n";
  out += sessions.size() > 1 ? table(sessions) : "  none\n";
  return out;
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace shmq::cli
