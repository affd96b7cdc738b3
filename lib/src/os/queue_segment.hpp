// The segments of a namespace: the registry, and creating, opening and
// removing queue segments (validation of a QueueConfig, the /dev/shm object,
// and the view over it). Used by the client, the daemon and the CLI alike.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/registry.hpp"
#include "layout/queue_view.hpp"
#include "os/segment.hpp"
#include "shmq/config.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {

// Checks every setting (throws errc::invalid_argument naming the bad value and
// the allowed range) and turns it into segment parameters.
QueueParams make_queue_params(const std::string& ns, const std::string& name, const QueueConfig& config);

// A namespace's registry: its mapping and validated view (the view's pointers
// stay valid while `segment` lives, also after a move).
struct MappedRegistry {
  Segment segment;
  RegistryView view;
};

// Opens the namespace's registry: errc::not_found if no process ever attached.
// ReadOnly for those that only read the session table (shmq::admin::Namespace).
MappedRegistry open_registry(const std::string& ns, Access access = Access::ReadWrite);
// The same, creating it under the namespace lock if it is missing or was left
// half-initialised by a creator that died (a Client, shmqd).
MappedRegistry open_or_create_registry(const std::string& ns);

// This process as a session would register it (pid, start time, name, clocks),
// with `heartbeat_timeout`: what claim_session needs.
SessionIdentity this_process(std::chrono::nanoseconds heartbeat_timeout);

struct MappedQueue {
  Segment segment;
  QueueView view;
};

// Creates and initialises the segment under the namespace lock. A segment of
// that name left half-initialised by a creator that died is replaced;
// otherwise errc::already_exists.
MappedQueue create_queue_segment(const std::string& ns, const std::string& name, const QueueConfig& config);

// errc::not_found for queue `name`, saying how to list the queues.
Error queue_not_found(const std::string& ns, const std::string& name);

// Maps and validates an existing queue (queue_not_found if absent). ReadOnly
// for those that only read it: nothing may then write through the view
// (segment.writable() says which); validation only reads.
MappedQueue open_queue_segment(const std::string& ns, const std::string& name, Access access = Access::ReadWrite);

// Deletes the queue (under the namespace lock): marks it removed and wakes
// its parked processes (send and receive return QueueDeleted from then on),
// then unlinks its name. False if absent.
bool remove_queue_segment(const std::string& ns, const std::string& name);

// Queue names of the namespace.
std::vector<std::string> list_queue_names(const std::string& ns);

// "at-least-once" / "at-most-once": the names configs, requests and tools use.
const char* delivery_name(DeliveryMode mode) noexcept;
std::optional<DeliveryMode> delivery_from_name(std::string_view name) noexcept;

// The QueueConfig a segment was created with.
QueueConfig config_of(const QueueView& q);

}  // namespace shmq::detail
