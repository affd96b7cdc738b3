#include "shmq/producer.hpp"

#include <cstring>
#include <utility>

#include "client/client_state.hpp"
#include "core/ring.hpp"
#include "os/wait.hpp"

namespace shmq {

using detail::kRelaxed;

// ---- Loan -------------------------------------------------------------------

Loan::Loan(Loan&& other) noexcept
    : producer_(other.producer_),
      pos_(other.pos_),
      data_(other.data_),
      size_(other.size_),
      capacity_(other.capacity_),
      status_(std::exchange(other.status_, Status::InvalidHandle)) {}

Loan& Loan::operator=(Loan&& other) noexcept {
  if (this != &other) {
    abandon();
    producer_ = other.producer_;
    pos_ = other.pos_;
    data_ = other.data_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    status_ = std::exchange(other.status_, Status::InvalidHandle);
  }
  return *this;
}

Loan::~Loan() { abandon(); }

Status Loan::commit(std::size_t length) noexcept {
  if (status_ != Status::Ok) return Status::InvalidHandle;
  if (length > capacity_) return Status::MessageTooLarge;
  return producer_->commit_loan(*this, length);
}

void Loan::abandon() noexcept {
  if (status_ == Status::Ok) producer_->abandon_loan(*this);
}

// ---- Producer ---------------------------------------------------------------

Producer::Producer(std::shared_ptr<detail::QueueHandle> queue, WaitOptions wait)
    : queue_(std::move(queue)), wait_(wait) {}
Producer::Producer(Producer&&) noexcept = default;
Producer& Producer::operator=(Producer&&) noexcept = default;
Producer::~Producer() = default;

std::size_t Producer::max_message_size() const noexcept { return queue_->view.slot_size(); }
const std::string& Producer::queue() const noexcept { return queue_->name; }

Loan Producer::try_loan(std::size_t n) noexcept { return loan(n, std::chrono::nanoseconds::zero()); }

Loan Producer::loan(std::size_t n, std::chrono::nanoseconds timeout) noexcept {
  Loan loan;
  const detail::QueueView& q = queue_->view;
  if (n > q.slot_size()) {
    loan.status_ = Status::MessageTooLarge;
    return loan;
  }
  detail::Claim claim;
  auto try_once = [&]() noexcept {
    if (queue_->client->fenced.load(kRelaxed)) return Status::Fenced;
    if (q.removed()) return Status::QueueDeleted;
    claim = detail::try_claim(q, queue_->owner);
    if (claim.status == Status::Fenced) {
      // It gave back the slot it had just claimed: waiters at it move on.
      queue_->client->fenced.store(true, kRelaxed);
      detail::notify(q.hot->data_futex, q.hot->consumers_parked);
    }
    return claim.status;
  };
  const detail::ParkSite site{&q.hot->space_futex, &q.hot->producers_parked, detail::owner_index(queue_->owner)};
  loan.status_ = detail::wait_until(try_once, Status::QueueFull, wait_, timeout, site);
  if (loan.status_ == Status::Ok) {
    loan.producer_ = this;
    loan.pos_ = claim.pos;
    loan.data_ = q.payload(q.slot_of(claim.pos));
    loan.size_ = n;
    loan.capacity_ = q.slot_size();
  }
  return loan;
}

Status Producer::commit_loan(Loan& loan, std::size_t length) noexcept {
  const detail::QueueView& q = queue_->view;
  const auto all_groups = static_cast<std::uint16_t>((1U << q.group_count) - 1);
  const Status s = detail::publish(q, loan.pos_, queue_->owner, loan.pos_, static_cast<std::uint32_t>(length),
                                   detail::monotonic_ns(), all_groups);
  loan.status_ = Status::InvalidHandle;  // used up either way
  if (s == Status::Fenced) queue_->client->fenced.store(true, kRelaxed);
  if (s != Status::Ok) return s;
  detail::notify(q.hot->data_futex, q.hot->consumers_parked);
  return Status::Ok;
}

void Producer::abandon_loan(Loan& loan) noexcept {
  loan.status_ = Status::InvalidHandle;
  const detail::QueueView& q = queue_->view;
  if (detail::abort_loan(q, loan.pos_, queue_->owner) == Status::Ok)
    detail::notify(q.hot->data_futex, q.hot->consumers_parked);  // waiters at this position move on
}

Status Producer::try_send(std::span<const std::byte> bytes) noexcept { return send(bytes, std::chrono::nanoseconds::zero()); }

Status Producer::send(std::span<const std::byte> bytes, std::chrono::nanoseconds timeout) noexcept {
  Loan l = loan(bytes.size(), timeout);
  if (!l) return l.status();
  if (!bytes.empty()) std::memcpy(l.data().data(), bytes.data(), bytes.size());
  return l.commit(bytes.size());
}

}  // namespace shmq
