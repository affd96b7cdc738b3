#include "queue_set.hpp"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <vector>

#include <spdlog/spdlog.h>

#include "shmq/admin/namespace.hpp"
#include "shmq/admin/system.hpp"
#include "shmq/error.hpp"

namespace shmq::daemon {

namespace {

std::string segment_path(const std::string& ns, const std::string& name) {
  return admin::object_path(admin::queue_object(ns, name));
}

bool same_segment(const QueueSet::Queue& q, const struct stat& st) {
  return q.device == st.st_dev && q.inode == st.st_ino;
}

}  // namespace

QueueSet::~QueueSet() {
  for (auto it = queues_.begin(); it != queues_.end();) it = unmap(it);
}

void QueueSet::set_listener(Listener* listener) noexcept {
  listener_ = listener;
  if (listener_ != nullptr)
    for (auto& [name, q] : queues_) listener_->mapped(name, q);
}

QueueSet::Queue& QueueSet::get(const std::string& name) {
  const std::string path = segment_path(ns_, name);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) throw admin::queue_not_found(ns_, name);
    throw Error(errc::system_error, "cannot stat " + path + ": " + admin::errno_text(err));
  }
  const auto it = queues_.find(name);
  if (it != queues_.end()) {
    if (same_segment(it->second, st)) return it->second;
    unmap(it);
  }
  Queue& q = map(name, st);
  unusable_.erase(name);
  return q;
}

bool QueueSet::refresh() noexcept {
  try {
    const std::vector<std::string> names = admin::queue_names(ns_);
    const auto listed = [&](const std::string& name) { return std::binary_search(names.begin(), names.end(), name); };
    for (auto it = queues_.begin(); it != queues_.end();) {
      if (listed(it->first)) {
        ++it;
        continue;
      }
      spdlog::info("queue {} was deleted: unmapped; processes still using it get QueueDeleted", it->first);
      it = unmap(it);
    }
    std::erase_if(unusable_, [&](const auto& u) { return !listed(u.first); });
    bool again = false;
    for (const std::string& name : names) again |= refresh_one(name);
    return again;
  } catch (const std::exception& e) {
    spdlog::error("cannot list the queues of namespace {}: {}", ns_, e.what());
    return false;
  }
}

bool QueueSet::refresh(const std::string& name) noexcept {
  try {
    return refresh_one(name);
  } catch (const std::exception& e) {
    spdlog::error("cannot look at queue {} of namespace {}: {}", name, ns_, e.what());
    return false;
  }
}

bool QueueSet::refresh_one(const std::string& name) {
  const auto it = queues_.find(name);
  struct stat st {};
  if (::stat(segment_path(ns_, name).c_str(), &st) != 0) {
    if (errno != ENOENT) return false;  // looked at again on the next refresh
    unusable_.erase(name);
    if (it != queues_.end()) {
      spdlog::info("queue {} was deleted: unmapped; processes still using it get QueueDeleted", name);
      unmap(it);
    }
    return false;
  }
  if (it != queues_.end()) {
    if (same_segment(it->second, st)) return false;
    spdlog::info("queue {} was deleted and created again: mapping the new one", name);
    unmap(it);
  }
  try {
    (void)map(name, st);
    unusable_.erase(name);
    return false;
  } catch (const Error& e) {
    // At first most likely a creation in progress: looked at again soon.
    // Still unusable after kUnusableGrace, it is a segment that needs a
    // human: said once.
    const std::uint64_t now = admin::monotonic_ns();
    Unusable& u = unusable_.try_emplace(name, Unusable{now, false}).first->second;
    if (now - u.since_ns < static_cast<std::uint64_t>(std::chrono::nanoseconds(kUnusableGrace).count())) return true;
    if (!u.logged) {
      u.logged = true;
      spdlog::error("queue {} cannot be watched: {}; `shmq-cli gc` or `shmq-cli delete {}` removes it", name,
                    e.what(), name);
    }
    return false;
  }
}

QueueSet::Queue& QueueSet::map(const std::string& name, const struct stat& st) {
  // `st` is from before the open: should the name move to another segment in
  // between, the next refresh sees another inode and maps that one.
  const auto it =
      queues_.try_emplace(name, Queue{admin::SupervisedQueue(ns_, name, registry_), st.st_dev, st.st_ino, 0}).first;
  if (listener_ != nullptr) listener_->mapped(name, it->second);
  return it->second;
}

QueueSet::Map::iterator QueueSet::unmap(Map::iterator it) noexcept {
  if (listener_ != nullptr) listener_->unmapping(it->first, it->second);
  return queues_.erase(it);
}

}  // namespace shmq::daemon
