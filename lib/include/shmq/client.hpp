// Client: attaches this process to the shmq runtime of a namespace.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "shmq/config.hpp"
#include "shmq/consumer.hpp"
#include "shmq/error.hpp"
#include "shmq/producer.hpp"

namespace shmq {

namespace detail {
struct ClientState;
}

// One session: an entry in the namespace's session table with a heartbeat that
// a background thread bumps. Producers and consumers made from it share the
// session and keep it alive; it detaches when the Client and all of them are
// gone, giving back what it still held (loans aborted, leases requeued).
//
// Thread-safe. Throws shmq::Error on setup failures.
class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Creates a queue. errc::already_exists if it exists, errc::invalid_argument
  // for a bad setting, errc::no_space if /dev/shm is too small (says how much
  // is needed).
  void create_queue(const std::string& name, const QueueConfig& config);
  // Removes the queue's name; processes attached keep their mapping. False if absent.
  bool delete_queue(const std::string& name);
  // Names of the queues of this namespace.
  [[nodiscard]] std::vector<std::string> list_queues() const;

  // errc::not_found if the queue does not exist.
  [[nodiscard]] Producer producer(const std::string& queue, WaitOptions wait = {});
  // errc::not_found if the queue or group does not exist.
  [[nodiscard]] Consumer consumer(const std::string& queue, const std::string& group = "default",
                                  WaitOptions wait = {});

  [[nodiscard]] const std::string& namespace_name() const noexcept;
  // This session's id (generation << 8 | index), as the tools show it.
  [[nodiscard]] std::uint32_t session_id() const noexcept;
  // True once the watchdog declared this session dead (it was hung).
  [[nodiscard]] bool fenced() const noexcept;

 private:
  std::shared_ptr<detail::ClientState> state_;
};

}  // namespace shmq
