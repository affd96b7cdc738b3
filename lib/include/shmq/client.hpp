// Client: attaches this process to the shmq runtime of a namespace.
#pragma once

#include <cstdint>
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

// Which way Client::create_queue made the queue.
enum class QueueCreatedBy : std::uint8_t {
  Daemon,    // shmqd made it on request (its checks applied; it owns the segment)
  Directly,  // no shmqd answered: this process made the segment with its own permissions
};

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
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Queue management goes through the namespace's shmqd when one answers on
  // its control socket (/dev/shm/shmq.<ns>.shmqd.sock): the daemon checks this
  // process's uid/gid and owns the segments. With no shmqd (no socket, or
  // connection refused) create_queue and delete_queue fall back to creating
  // or removing the segment directly, with this process's own permissions,
  // unless ClientOptions::require_daemon is set: then they fail with
  // errc::daemon_unavailable. purge_queue always needs the daemon. A call to the daemon takes at most
  // ClientOptions::daemon_timeout (errc::timeout past it: a stopped or stuck
  // daemon never hangs the caller). Errors the daemon reports come back as
  // shmq::Error with its code and message.

  // Creates a queue and says which way it did (the library has no log; a
  // caller may log it or ignore it). Through shmqd the segment is owned by
  // this process's uid with config.mode, and by the group the daemon's config
  // names for the queue (owner_group), else this process's gid.
  // errc::already_exists if it exists, errc::invalid_argument for a bad
  // setting (the message names it), errc::no_space if /dev/shm is too small
  // (says how much is needed), errc::daemon_unavailable if no shmqd answers
  // and ClientOptions::require_daemon is set.
  QueueCreatedBy create_queue(const std::string& name, const QueueConfig& config);
  // Deletes the queue and its messages: processes still using it get
  // Status::QueueDeleted from send and receive (parked ones wake to get it),
  // also once a queue of that name is created again. False if absent. Through shmqd only the queue's owner, a member of its group or
  // root may (errc::permission_denied says who may). errc::daemon_unavailable
  // if no shmqd answers and ClientOptions::require_daemon is set.
  bool delete_queue(const std::string& name);
  // Drops every message of the queue no consumer holds, in every group: those
  // not delivered yet and those waiting for redelivery. Messages leased to a
  // consumer stay (its ack works as before). Returns the messages dropped,
  // summed over the groups (a message dropped by two groups counts twice).
  // Needs shmqd (errc::daemon_unavailable: "no shmqd in namespace X: start
  // `shmqd --namespace X`"); allowed to the owner, the group and root;
  // errc::not_found if the queue does not exist.
  std::uint64_t purge_queue(const std::string& name);
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
  // True once the watchdog declared this session dead (it was hung): from
  // then on loans, commits, receives and acks return Status::Fenced, and the
  // watchdog takes back what the session held. Reads the session's registry
  // entry, so it is true as soon as the watchdog fenced it.
  [[nodiscard]] bool fenced() const noexcept;

 private:
  std::shared_ptr<detail::ClientState> state_;
};

}  // namespace shmq
