// list, stat, sessions, check: reading a namespace without joining it (no
// session is claimed, nothing is written).
#include <cstdio>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "shmq/admin/report.hpp"
#include "report.hpp"
#include "shmq/error.hpp"

namespace shmq::cli {

namespace {

void print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }
void print_json(const nlohmann::ordered_json& j) { print(j.dump(2) + "\n"); }

std::string depth_text(const admin::QueueStats& st) {
  if (st.groups.size() == 1) return std::to_string(st.groups[0].ready + st.groups[0].pending);
  std::string s;
  for (const admin::GroupStats& g : st.groups)
    s += fmt::format("{}{}={}", s.empty() ? "" : " ", g.name, g.ready + g.pending);
  return s;
}

int run_list(const Globals& g) {
  const std::string ns = g.ns();
  const admin::Namespace reg(ns);
  nlohmann::ordered_json queues = nlohmann::ordered_json::array();
  std::vector<std::vector<std::string>> rows{
      {"QUEUE", "CAPACITY", "SLOT SIZE", "DEPTH", "IN FLIGHT", "FREE", "DEAD LETTERS", "SESSIONS"}};
  for (const std::string& name : reg.queue_names()) {
    try {
      const admin::Queue q = reg.queue(name);
      const admin::QueueStats st = q.stats();
      std::uint32_t in_flight = 0;
      nlohmann::ordered_json groups = nlohmann::ordered_json::array();
      for (const admin::GroupStats& gs : st.groups) {
        in_flight += gs.leased;
        groups.push_back({{"name", gs.name},
                          {"depth", gs.ready + gs.pending},
                          {"ready", gs.ready},
                          {"pending", gs.pending},
                          {"leased", gs.leased}});
      }
      queues.push_back({{"name", name},
                        {"capacity", st.capacity},
                        {"slot_size", st.slot_size},
                        {"free", st.free},
                        {"in_flight", in_flight},
                        {"dead_letters", st.dead_letters},
                        {"sessions", st.attachments.size()},
                        {"groups", std::move(groups)}});
      rows.push_back({name, std::to_string(st.capacity), std::to_string(st.slot_size), depth_text(st),
                      std::to_string(in_flight), std::to_string(st.free), std::to_string(st.dead_letters),
                      std::to_string(st.attachments.size())});
    } catch (const Error& e) {
      // One unreadable queue (permission, corrupt) does not hide the others.
      queues.push_back({{"name", name}, {"error", e.what()}});
      rows.push_back({name, "?", "?", "?", "?", "?", "?", std::string("? (") + e.what() + ")"});
    }
  }
  if (g.json) {
    print_json({{"namespace", ns}, {"queues", std::move(queues)}});
  } else if (rows.size() == 1) {
    print(fmt::format("no queues in namespace {}; create one with `shmq-cli create QUEUE --capacity N "
                      "--slot-size BYTES`\n",
                      ns));
  } else {
    print(table(rows));
  }
  return kOk;
}

int run_stat(const Globals& g, const std::string& queue) {
  const std::string ns = g.ns();
  const admin::Namespace reg(ns);
  const admin::Queue q = reg.queue(queue);
  const admin::QueueStats st = q.stats();
  const std::uint64_t now = admin::monotonic_ns();
  if (g.json)
    print_json(stat_json(ns, queue, st, reg, now));
  else
    print(stat_text(ns, queue, st, reg, now));
  return kOk;
}

int run_sessions(const Globals& g) {
  const std::string ns = g.ns();
  const admin::Namespace reg(ns);
  const std::uint64_t now = admin::monotonic_ns();
  // Which queues each session uses, from the queues' attachment tables.
  std::map<admin::SessionId, nlohmann::ordered_json> uses;
  for (const std::string& name : reg.queue_names()) {
    try {
      const admin::Queue q = reg.queue(name);
      const admin::QueueStats st = q.stats();
      for (const admin::AttachmentStats& a : st.attachments) {
        nlohmann::ordered_json groups = nlohmann::ordered_json::array();
        for (std::uint32_t i = 0; i < st.groups.size(); ++i)
          if (((a.groups >> i) & 1U) != 0) groups.push_back(st.groups[i].name);
        uses[a.owner].push_back({{"name", name}, {"role", roles_text(a)}, {"groups", std::move(groups)}});
      }
    } catch (const Error&) {
      // Unreadable queue: its attachments stay unknown.
    }
  }
  nlohmann::ordered_json sessions = nlohmann::ordered_json::array();
  std::vector<std::vector<std::string>> rows{{"SESSION", "PID", "COMMAND", "STATE", "HEARTBEAT", "QUEUES"}};
  for (const admin::SessionInfo& s : reg.sessions(now)) {
    const admin::SessionId owner = s.id;
    nlohmann::ordered_json queues = uses.contains(owner) ? uses[owner] : nlohmann::ordered_json::array();
    std::string qtext;
    for (const auto& u : queues)
      qtext += fmt::format("{}{}({})", qtext.empty() ? "" : " ", u["name"].get<std::string>(),
                           u["role"].get<std::string>());
    sessions.push_back({{"session", owner},
                        {"index", s.index},
                        {"generation", s.generation},
                        {"pid", s.pid},
                        {"comm", s.comm},
                        {"state", admin::liveness_name(s.liveness)},
                        {"heartbeat_age_ms", s.heartbeat_age_ms ? nlohmann::ordered_json(*s.heartbeat_age_ms) : nullptr},
                        {"queues", queues}});
    rows.push_back({std::to_string(owner), std::to_string(s.pid), s.comm.empty() ? "-" : s.comm, admin::liveness_name(s.liveness),
                    age_text(s.heartbeat_age_ms), qtext.empty() ? "-" : qtext});
  }
  if (g.json)
    print_json({{"namespace", ns}, {"sessions", std::move(sessions)}});
  else if (rows.size() == 1)
    print(fmt::format("no sessions in namespace {}\n", ns));
  else
    print(table(rows));
  return kOk;
}

int run_check(const Globals& g, std::vector<std::string> queues) {
  const std::string ns = g.ns();
  const admin::Namespace reg(ns);
  if (queues.empty()) queues = reg.queue_names();
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  std::size_t failed = 0;
  for (const std::string& name : queues) {
    const admin::Queue q = reg.queue(name);
    const admin::AuditReport a = q.audit();
    if (!a.ok()) ++failed;
    results.push_back({{"name", name},
                       {"ok", a.ok()},
                       {"free", a.free},
                       {"loaned", a.loaned},
                       {"waiting", a.waiting},
                       {"leased", a.leased},
                       {"pending", a.pending},
                       {"quarantined", a.quarantined},
                       {"dead_letters", a.dead_letters},
                       {"problems", a.problems}});
    if (g.json) continue;
    const std::string counts =
        fmt::format("free {}, loaned {}, waiting {}, leased {}, pending {}, quarantined {}, dead letters {}", a.free,
                    a.loaned, a.waiting, a.leased, a.pending, a.quarantined, a.dead_letters);
    if (a.ok()) {
      print(fmt::format("{}: ok ({} slots accounted for: {})\n", name, q.config().capacity, counts));
    } else {
      print(fmt::format("{}: {} problem(s) ({})\n", name, a.problems.size(), counts));
      for (const std::string& p : a.problems) print("  " + p + "\n");
    }
  }
  if (g.json) print_json({{"namespace", ns}, {"ok", failed == 0}, {"queues", std::move(results)}});
  if (failed != 0)
    throw Failure(kCheckFailed, fmt::format("check failed: {} of {} queue(s) have slots nobody accounts for (listed "
                                            "on stdout); shmqd's watchdog recovers sessions that died",
                                            failed, queues.size()));
  return kOk;
}

}  // namespace

void add_inspect_commands(CLI::App& app, Globals& g, Commands& out) {
  CLI::App* list = app.add_subcommand("list", "Queues: capacity, slot size, depth per group, in flight, free, sessions");
  list->footer("Example: shmq-cli list --json");
  add_json_flag(list, g);
  out.push_back({list, [&g] { return run_list(g); }});

  auto queue = std::make_shared<std::string>();
  CLI::App* stat = app.add_subcommand(
      "stat", "One queue in full: per group ready, pending, leased, counters, oldest unacked age; consumers and sessions");
  stat->add_option("QUEUE", *queue, "Queue name")->required();
  stat->footer("Example: shmq-cli stat orders --json");
  add_json_flag(stat, g);
  out.push_back({stat, [&g, queue] { return run_stat(g, *queue); }});

  CLI::App* sessions = app.add_subcommand("sessions", "Every attached process: pid, queues, role, heartbeat age, state");
  sessions->footer("Example: shmq-cli sessions --json");
  add_json_flag(sessions, g);
  out.push_back({sessions, [&g] { return run_sessions(g); }});

  auto check_queues = std::make_shared<std::vector<std::string>>();
  CLI::App* check = app.add_subcommand("check", "Audit every slot's accounting; exit 8 if anything is off");
  check->add_option("QUEUE", *check_queues, "Queues to check (default: every queue of the namespace)");
  check->footer("Example: shmq-cli check orders   # prints `orders: ok (...)`, exit 0");
  add_json_flag(check, g);
  out.push_back({check, [&g, check_queues] { return run_check(g, *check_queues); }});
}

}  // namespace shmq::cli
