// dlq QUEUE list|replay|purge: the dead-letter area. list only reads (the
// queue mapped read-only: read permission is enough); replay joins the
// namespace as a producer session (the slots it claims name it, so the
// watchdog can take them back if it dies); purge frees entries. replay and
// purge map the queue read-write, and need write permission.
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "report.hpp"
#include "shmq/client.hpp"

namespace shmq::cli {

namespace {

struct DlqArgs {
  std::string queue;
  std::string action;
  std::optional<std::uint64_t> id;
  std::string group;
};

// The dead letters the flags select (all, one --id, those of one --group).
std::vector<admin::DeadLetter> selected(const admin::Queue& q, const DlqArgs& a) {
  std::optional<std::uint32_t> group;
  if (!a.group.empty()) group = group_index(q, a.group);
  std::vector<admin::DeadLetter> out;
  for (admin::DeadLetter& d : q.dead_letters()) {
    if (a.id && d.id != *a.id) continue;
    if (group && d.group != *group) continue;
    out.push_back(std::move(d));
  }
  if (a.id && out.empty())
    throw Failure(kNotFound, fmt::format("queue '{}' has no dead letter with id {}; `shmq-cli dlq {} list` shows them",
                                         a.queue, *a.id, a.queue));
  return out;
}

int run_list(const Globals& g, const DlqArgs& a, const admin::Queue& q) {
  const std::uint64_t now_ms = admin::monotonic_ns() / 1'000'000;
  std::vector<std::vector<std::string>> rows{{"ID", "GROUP", "DELIVERIES", "DEAD FOR", "SIZE", "DATA"}};
  const std::vector<admin::DeadLetter> letters = selected(q, a);
  for (const admin::DeadLetter& d : letters) {
    const std::uint64_t dead_for = now_ms > d.dead_ms ? now_ms - d.dead_ms : 0;
    if (g.json) {
      nlohmann::ordered_json j = {{"id", d.id},
                          {"group", q.group_name(d.group)},
                          {"delivery_count", d.delivery_count},
                          {"reason", "max_deliveries"},
                          {"dead_for_ms", dead_for},
                          {"size", d.data.size()}};
      if (valid_utf8(d.data.data(), d.data.size()))
        j["data"] = std::string(reinterpret_cast<const char*>(d.data.data()), d.data.size());
      else
        j["data_base64"] = base64(d.data.data(), d.data.size());
      std::printf("%s\n", j.dump().c_str());
    } else {
      rows.push_back({std::to_string(d.id), q.group_name(d.group), std::to_string(d.delivery_count),
                      age_text(dead_for), std::to_string(d.data.size()), printable(d.data.data(), d.data.size(), 80)});
    }
  }
  if (!g.json) {
    if (letters.empty())
      std::printf("no dead letters in queue %s\n", a.queue.c_str());
    else
      std::fputs(table(rows).c_str(), stdout);
  }
  return kOk;
}

int run_replay(const Globals& g, const DlqArgs& a) {
  const std::string ns = g.ns();
  const admin::Namespace reg(ns);
  // Mapped first: a user who may only read the queue learns that before
  // anything joins the namespace.
  admin::WritableQueue q = reg.writable_queue(a.queue);
  // A producer session: its attachment tells the watchdog to look at this
  // queue if the process dies while it holds a claimed slot.
  Client client(ClientOptions{.ns = ns});
  Producer producer = client.producer(a.queue);
  const auto me = static_cast<admin::SessionId>(client.session_id());
  std::uint64_t replayed = 0;
  std::uint64_t skipped = 0;
  for (const admin::DeadLetter& d : selected(q, a)) {
    const Status s = q.replay_dead_letter(d.index, me);  // wakes the consumers
    if (s == Status::Ok) {
      ++replayed;
    } else if (s == Status::QueueFull) {
      throw Failure(kQueueFull, fmt::format("queue '{}' is full: replayed {} dead letter(s), the rest stay in the "
                                            "dead-letter area; run it again once consumers caught up",
                                            a.queue, replayed));
    } else if (s == Status::InvalidHandle) {
      ++skipped;  // replayed or purged by someone else meanwhile
    } else {
      throw Failure(kInternal, fmt::format("cannot replay dead letter {}: {}", d.id, to_string(s)));
    }
  }
  std::printf("replayed %llu dead letter(s) to queue %s%s\n", static_cast<unsigned long long>(replayed),
              a.queue.c_str(), skipped != 0 ? fmt::format(" ({} taken by another replay or purge)", skipped).c_str() : "");
  return kOk;
}

int run_purge(const DlqArgs& a, admin::WritableQueue& q) {
  std::uint64_t purged = 0;
  for (const admin::DeadLetter& d : selected(q, a))
    if (q.purge_dead_letter(d.index)) ++purged;
  std::printf("purged %llu dead letter(s) from queue %s\n", static_cast<unsigned long long>(purged), a.queue.c_str());
  return kOk;
}

int run_dlq(const Globals& g, const DlqArgs& a) {
  if (a.action == "replay") return run_replay(g, a);
  const admin::Namespace reg(g.ns());
  if (a.action == "list") return run_list(g, a, reg.queue(a.queue));
  admin::WritableQueue q = reg.writable_queue(a.queue);
  return run_purge(a, q);
}

}  // namespace

void add_dlq_command(CLI::App& app, Globals& g, Commands& out) {
  auto a = std::make_shared<DlqArgs>();
  CLI::App* dlq = app.add_subcommand("dlq", "The dead-letter area: list, replay (deliver again), purge");
  dlq->add_option("QUEUE", a->queue, "Queue name")->required();
  dlq->add_option("ACTION", a->action, "list | replay | purge")
      ->required()
      ->check(CLI::IsMember({"list", "replay", "purge"}));
  dlq->add_option("--id", a->id, "Only the dead letter with this message id")->check(message_id());
  dlq->add_option("--group", a->group, "Only the dead letters of this group");
  add_json_flag(dlq, g);
  dlq->footer(
      "replay publishes each dead letter again, with its id, for the group that gave up on it (delivery count 1).\n"
      "Example: shmq-cli dlq orders list --json; shmq-cli dlq orders replay --id 1031");
  out.push_back({dlq, [&g, a] { return run_dlq(g, *a); }});
}

}  // namespace shmq::cli
