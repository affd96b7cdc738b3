// gc: remove what dead instances left in /dev/shm. A namespace is left alone
// while its shmqd holds its instance lock (shmq.<ns>.shmqd.lock), while any of
// its sessions belongs to a live process, or while someone holds its namespace
// lock (shmq.<ns>.lock: a queue or registry being created). Otherwise every
// object of the namespace goes: queue segments, the registry, the socket and
// both lock files (the namespace lock last, held by gc while it removes).
//
// Limits: processes are judged by pid + start time as this pid namespace sees
// them, so run gc where the shmq processes run (not from another container).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <system_error>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "shmq/error.hpp"

namespace shmq::cli {

namespace {

struct GcArgs {
  bool dry_run = false;
  bool all = false;
};

int run_gc(const Globals& g, const GcArgs& a) {
  std::map<std::string, std::vector<std::string>> found = admin::namespaces_in_shm();
  if (!a.all) {
    const std::string ns = g.ns();
    auto it = found.find(ns);
    std::map<std::string, std::vector<std::string>> one;
    if (it != found.end()) one.insert(*it);
    found = std::move(one);
  }
  nlohmann::ordered_json removed = nlohmann::ordered_json::array();
  nlohmann::ordered_json kept = nlohmann::ordered_json::array();
  std::string text;
  for (auto& [ns, names] : found) {
    std::string reason = admin::in_use_reason(ns);
    std::optional<admin::NamespaceLock> lock;
    if (reason.empty() && !a.dry_run) {
      // Under the namespace lock, so no queue is being created meanwhile; a
      // session that attached since the first look keeps the namespace.
      try {
        lock = admin::NamespaceLock::try_take(ns);
        if (!lock) reason = "its namespace lock is held (a queue is being created)";
        else if (const std::string again = admin::in_use_reason(ns, false); !again.empty()) reason = again;
      } catch (const Error& e) {
        reason = std::string("its namespace lock cannot be taken: ") + e.what();
      }
    }
    if (!reason.empty()) {
      kept.push_back({{"namespace", ns}, {"reason", reason}});
      text += fmt::format("keeping namespace {}: {}\n", ns, reason);
      continue;
    }
    const std::string lock_name = admin::namespace_lock_object(ns);
    std::vector<std::string> order;  // the namespace lock last
    for (const std::string& n : names)
      if (n != lock_name) order.push_back(n);
    if (lock || std::find(names.begin(), names.end(), lock_name) != names.end()) order.push_back(lock_name);
    for (const std::string& n : order) {
      const std::string path = admin::object_path(n);
      if (!a.dry_run && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
        const int err = errno;
        throw Failure(err == EACCES || err == EPERM ? kPermission : kInternal,
                      fmt::format("cannot remove {}: {}; run gc as its owner or root", path, std::generic_category().message(err)));
      }
      removed.push_back(path);
      text += fmt::format("{} {} (namespace {}: no shmqd, no live session)\n", a.dry_run ? "would remove" : "removed",
                          path, ns);
    }
  }
  if (g.json) {
    std::printf("%s\n",
                nlohmann::ordered_json{{"dry_run", a.dry_run}, {"removed", removed}, {"kept", kept}}.dump(2).c_str());
  } else {
    if (removed.empty()) text += "nothing to remove\n";
    std::fputs(text.c_str(), stdout);
  }
  return kOk;
}

}  // namespace

void add_gc_command(CLI::App& app, Globals& g, Commands& out) {
  auto a = std::make_shared<GcArgs>();
  CLI::App* gc = app.add_subcommand(
      "gc", "Remove what dead instances left in /dev/shm (namespaces with no live shmqd and no live session)");
  gc->add_flag("--dry-run", a->dry_run, "Only list what would be removed");
  gc->add_flag("--all", a->all, "Every namespace in /dev/shm, not only the selected one");
  add_json_flag(gc, g);
  gc->footer("Example: shmq-cli gc --all --dry-run   # then: shmq-cli gc --all");
  out.push_back({gc, [&g, a] { return run_gc(g, *a); }});
}

}  // namespace shmq::cli
