// Consumer: receives messages of one consumer group, zero-copy.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "shmq/config.hpp"
#include "shmq/error.hpp"

namespace shmq {

namespace detail {
struct QueueHandle;
}

class Consumer;

// A received message: a read-only view of the slot (valid while the Message
// lives and its lease is held) plus its metadata. Move-only.
//
// Dropped without ack(): in an at-least-once group the message is nacked
// (delivered again at once) unless keep_lease() was called; in an at-most-once
// group it is released.
class Message {
 public:
  Message() = default;
  Message(Message&& other) noexcept;
  Message& operator=(Message&& other) noexcept;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message();

  // Ok when the message holds a lease; otherwise why not (Empty, Timeout,
  // Fenced: this session was declared dead and takes nothing new;
  // QueueDeleted: the queue was deleted, a parked receive wakes to say so).
  [[nodiscard]] Status status() const noexcept { return status_; }
  [[nodiscard]] explicit operator bool() const noexcept { return status_ == Status::Ok; }

  [[nodiscard]] std::span<const std::byte> data() const noexcept { return {data_, size_}; }
  [[nodiscard]] std::string_view text() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }
  // Unique in the queue and the same on every redelivery: an idempotency key.
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  // 1 on first delivery, +1 on each redelivery.
  [[nodiscard]] std::uint32_t delivery_count() const noexcept { return count_; }
  // CLOCK_MONOTONIC nanoseconds at commit (comparable across processes).
  [[nodiscard]] std::uint64_t commit_ns() const noexcept { return commit_ns_; }

  // Done with it: never delivered to this group again.
  //
  // A late ack: the lease deadline is when shmqd takes the message back, not
  // a cut-off for the holder. shmqd's watchdog takes back a lease within one
  // scan period (10 ms by default) after its deadline, and at once what a
  // dead or fenced session holds. Until then the ack succeeds; after it, it
  // fails with LeaseLost and changes nothing (the message is delivered again,
  // maybe to another consumer). With no shmqd running nobody takes leases
  // back: an ack of a held lease always succeeds.
  // Fenced: this session was declared dead; nothing changed, and the watchdog
  // takes the lease back.
  [[nodiscard]] Status ack() noexcept;
  // Deliver it again now (at-most-once groups: same as ack). LeaseLost and
  // Fenced as for ack.
  [[nodiscard]] Status nack() noexcept;
  // Keep holding it for `d` from now (at-least-once). LeaseLost if it was
  // taken back or its deadline has passed (the watchdog may be taking it
  // back this moment); Fenced as for ack.
  [[nodiscard]] Status extend_lease(std::chrono::milliseconds d) noexcept;
  // Let the handle go but keep the lease: the message comes back when the lease
  // runs out or this session ends.
  void keep_lease() noexcept;

 private:
  friend class Consumer;
  [[nodiscard]] Status settle(bool redeliver) noexcept;
  Consumer* consumer_ = nullptr;
  std::uint64_t pos_ = 0;
  std::uint64_t id_ = 0;
  std::uint64_t commit_ns_ = 0;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::uint32_t count_ = 0;
  Status status_ = Status::InvalidHandle;
};

// Move-only; one Consumer per thread. Messages it returns must not outlive it.
class Consumer {
 public:
  Consumer(Consumer&&) noexcept;
  Consumer& operator=(Consumer&&) noexcept;
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;
  ~Consumer();

  // The next message, or Empty at once.
  [[nodiscard]] Message try_receive() noexcept;
  // Waits (by the wait strategy) up to `timeout`: Timeout.
  [[nodiscard]] Message receive(std::chrono::nanoseconds timeout = kForever) noexcept;

  [[nodiscard]] const std::string& queue() const noexcept;
  [[nodiscard]] const std::string& group() const noexcept { return group_name_; }
  [[nodiscard]] DeliveryMode mode() const noexcept;

 private:
  friend class Client;
  friend class Message;
  Consumer(std::shared_ptr<detail::QueueHandle> queue, std::uint32_t group, std::string group_name, WaitOptions wait);
  [[nodiscard]] Message take(Status empty_status) noexcept;

  std::shared_ptr<detail::QueueHandle> queue_;
  std::uint32_t group_ = 0;
  std::string group_name_;
  WaitOptions wait_;
  // Redelivery scanning: the generation a scan sequence started at, where it
  // resumes (0: not in a sequence), and the last generation fully scanned.
  std::uint32_t seen_redeliver_gen_ = 0;
  std::uint32_t scan_gen_ = 0;
  std::uint64_t scan_from_ = 0;
};

}  // namespace shmq
