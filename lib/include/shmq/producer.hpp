// Producer: publishes messages into a queue, zero-copy through loans.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "shmq/config.hpp"
#include "shmq/error.hpp"

namespace shmq {

namespace detail {
struct QueueHandle;
}

class Producer;

// A slot lent to the producer: write the payload in place, then commit.
// Dropped without commit, the slot goes back (no message is published).
// Move-only; used from one thread at a time.
class Loan {
 public:
  Loan() = default;
  Loan(Loan&& other) noexcept;
  Loan& operator=(Loan&& other) noexcept;
  Loan(const Loan&) = delete;
  Loan& operator=(const Loan&) = delete;
  ~Loan();

  // Ok when the loan holds a slot; otherwise why not (QueueFull, Timeout,
  // MessageTooLarge, Fenced, QueueDeleted).
  [[nodiscard]] Status status() const noexcept { return status_; }
  [[nodiscard]] explicit operator bool() const noexcept { return status_ == Status::Ok; }

  // The writable slot: the `n` bytes asked for (the slot may hold more: see
  // capacity()). Empty unless status() is Ok.
  [[nodiscard]] std::span<std::byte> data() const noexcept { return {data_, size_}; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  // The id the message will carry once committed.
  [[nodiscard]] std::uint64_t id() const noexcept { return pos_; }

  // Publishes the first `length` bytes (<= capacity()) to every group.
  // MessageTooLarge writes nothing and keeps the loan. Fenced if the
  // watchdog declared this session dead (nothing is published; the watchdog
  // takes the slot back); LeaseLost if it already took the slot back.
  [[nodiscard]] Status commit(std::size_t length) noexcept;
  [[nodiscard]] Status commit() noexcept { return commit(size_); }
  // Gives the slot back now.
  void abandon() noexcept;

 private:
  friend class Producer;
  Producer* producer_ = nullptr;
  std::uint64_t pos_ = 0;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  Status status_ = Status::InvalidHandle;
};

// Move-only; one Producer per thread (make one per thread: they are cheap).
class Producer {
 public:
  Producer(Producer&&) noexcept;
  Producer& operator=(Producer&&) noexcept;
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;
  ~Producer();

  // A slot for a message of up to `n` bytes; never blocks: QueueFull at once.
  [[nodiscard]] Loan try_loan(std::size_t n) noexcept;
  // Waits (by the wait strategy) up to `timeout` for a free slot: Timeout.
  [[nodiscard]] Loan loan(std::size_t n, std::chrono::nanoseconds timeout = kForever) noexcept;

  // Copying conveniences: loan, copy, commit.
  [[nodiscard]] Status try_send(std::span<const std::byte> bytes) noexcept;
  [[nodiscard]] Status send(std::span<const std::byte> bytes, std::chrono::nanoseconds timeout = kForever) noexcept;
  [[nodiscard]] Status send(std::string_view text, std::chrono::nanoseconds timeout = kForever) noexcept {
    return send(std::as_bytes(std::span(text.data(), text.size())), timeout);
  }

  [[nodiscard]] std::size_t max_message_size() const noexcept;
  [[nodiscard]] const std::string& queue() const noexcept;

 private:
  friend class Client;
  friend class Loan;
  Producer(std::shared_ptr<detail::QueueHandle> queue, WaitOptions wait);
  [[nodiscard]] Status commit_loan(Loan& loan, std::size_t length) noexcept;
  void abandon_loan(Loan& loan) noexcept;

  std::shared_ptr<detail::QueueHandle> queue_;
  WaitOptions wait_;
};

}  // namespace shmq
