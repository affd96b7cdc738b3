// What a Client, its Producers and Consumers share inside one process: the
// session (registry entry + heartbeat thread) and one mapping per queue.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/registry.hpp"
#include "os/segment.hpp"
#include "os/queue_segment.hpp"
#include "shmq/config.hpp"

namespace shmq::detail {

struct ClientState {
  ClientState(std::string ns, ClientOptions options);
  ~ClientState();  // stops the heartbeat, releases the session
  ClientState(const ClientState&) = delete;
  ClientState& operator=(const ClientState&) = delete;

  const std::string ns;
  const ClientOptions options;
  const MappedRegistry mapped_registry;
  const RegistryView& registry = mapped_registry.view;
  Owner owner = kNoOwner;
  // Set once this session is known to be fenced (by the heartbeat thread, or
  // by a data-path call that found it so); read first on every loan and
  // receive, a process-local line. The registry word stays the authority:
  // the data path checks it after each claim (ring.hpp).
  std::atomic<bool> fenced{false};
  // True if the watchdog fenced this session (or it was released); sets `fenced`.
  [[nodiscard]] bool check_fenced() noexcept;

  std::mutex mutex;  // guards queues, stop
  std::map<std::string, std::weak_ptr<struct QueueHandle>> queues;
  bool stop = false;
  std::condition_variable wake;
  std::thread heartbeat;

 private:
  void heartbeat_loop();
};

// One queue mapped by one client; shared by its producers and consumers. When
// the last of them goes, what the session still holds in it is given back.
struct QueueHandle {
  QueueHandle(std::shared_ptr<ClientState> client, std::string name, MappedQueue mapped);
  ~QueueHandle();
  QueueHandle(const QueueHandle&) = delete;
  QueueHandle& operator=(const QueueHandle&) = delete;

  [[nodiscard]] Attachment& attachment() const noexcept { return view.attachments[owner_index(owner)]; }

  std::shared_ptr<ClientState> client;
  const std::string name;
  Segment segment;
  QueueView view;
  const Owner owner;
};

}  // namespace shmq::detail
