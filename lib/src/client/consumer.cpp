#include "shmq/consumer.hpp"

#include <algorithm>
#include <utility>

#include "client/client_state.hpp"
#include "core/ring.hpp"
#include "os/wait.hpp"

namespace shmq {

using detail::kRelaxed;

namespace {
std::uint64_t now_ms() noexcept { return detail::monotonic_ms_not_before(); }
}  // namespace

// ---- Message ----------------------------------------------------------------

Message::Message(Message&& other) noexcept
    : consumer_(other.consumer_),
      pos_(other.pos_),
      id_(other.id_),
      commit_ns_(other.commit_ns_),
      data_(other.data_),
      size_(other.size_),
      count_(other.count_),
      status_(std::exchange(other.status_, Status::InvalidHandle)) {}

Message& Message::operator=(Message&& other) noexcept {
  if (this != &other) {
    if (status_ == Status::Ok) (void)settle(true);
    consumer_ = other.consumer_;
    pos_ = other.pos_;
    id_ = other.id_;
    commit_ns_ = other.commit_ns_;
    data_ = other.data_;
    size_ = other.size_;
    count_ = other.count_;
    status_ = std::exchange(other.status_, Status::InvalidHandle);
  }
  return *this;
}

Message::~Message() {
  if (status_ == Status::Ok) (void)settle(true);
}

Status Message::ack() noexcept { return settle(false); }
Status Message::nack() noexcept { return settle(true); }
void Message::keep_lease() noexcept { status_ = Status::InvalidHandle; }

Status Message::settle(bool redeliver) noexcept {
  if (status_ != Status::Ok) return Status::InvalidHandle;
  status_ = Status::InvalidHandle;  // used up either way
  const detail::QueueHandle& h = *consumer_->queue_;
  const detail::QueueView& q = h.view;
  const std::uint32_t g = consumer_->group_;
  const bool at_most_once = q.group_info(g).at_most_once != 0;
  const auto to = redeliver && !at_most_once ? detail::LeaseState::Pending : detail::LeaseState::Done;
  const Status s = detail::settle(q, g, pos_, count_, h.owner, to);
  if (s == Status::Fenced) h.client->fenced.store(true, kRelaxed);
  if (s != Status::Ok) return s;
  if (to == detail::LeaseState::Pending) {
    detail::notify(q.hot->data_futex, q.hot->consumers_parked);
  } else {
    detail::notify(q.hot->space_futex, q.hot->producers_parked);
  }
  return Status::Ok;
}

Status Message::extend_lease(std::chrono::milliseconds d) noexcept {
  if (status_ != Status::Ok) return Status::InvalidHandle;
  const detail::QueueHandle& h = *consumer_->queue_;
  const std::uint32_t g = consumer_->group_;
  if (h.view.group_info(g).at_most_once != 0) return Status::Ok;  // no deadline to move
  const std::uint64_t now = now_ms();
  const Status s = detail::extend_lease(h.view, g, pos_, count_, h.owner, now,
                                        now + static_cast<std::uint64_t>(std::max<std::int64_t>(d.count(), 0)));
  if (s == Status::Fenced) h.client->fenced.store(true, kRelaxed);
  return s;
}

// ---- Consumer ---------------------------------------------------------------

Consumer::Consumer(std::shared_ptr<detail::QueueHandle> queue, std::uint32_t group, std::string group_name,
                   WaitOptions wait)
    : queue_(std::move(queue)),
      group_(group),
      group_name_(std::move(group_name)),
      wait_(wait),
      seen_redeliver_gen_(detail::redelivery_generation(queue_->view, group) - 1) {}  // scan once at start
Consumer::Consumer(Consumer&&) noexcept = default;
Consumer& Consumer::operator=(Consumer&&) noexcept = default;
Consumer::~Consumer() = default;

const std::string& Consumer::queue() const noexcept { return queue_->name; }
DeliveryMode Consumer::mode() const noexcept {
  return queue_->view.group_info(group_).at_most_once != 0 ? DeliveryMode::AtMostOnce : DeliveryMode::AtLeastOnce;
}

Message Consumer::try_receive() noexcept { return receive(std::chrono::nanoseconds::zero()); }

Message Consumer::receive(std::chrono::nanoseconds timeout) noexcept {
  const detail::QueueView& q = queue_->view;
  const detail::Owner me = queue_->owner;
  detail::Delivery d;
  // A claim found this session fenced and gave back what it had just taken:
  // others may take it now.
  auto fenced_now = [&]() noexcept {
    queue_->client->fenced.store(true, kRelaxed);
    detail::notify(q.hot->data_futex, q.hot->consumers_parked);
    return Status::Fenced;
  };
  auto try_once = [&]() noexcept {
    if (queue_->client->fenced.load(kRelaxed)) return Status::Fenced;
    if (q.removed()) return Status::QueueDeleted;
    const std::uint32_t gen = detail::redelivery_generation(q, group_);
    if (gen != seen_redeliver_gen_) {
      if (scan_from_ == 0) scan_gen_ = gen;  // a new scan sequence
      d = detail::take_redelivery(q, group_, me, now_ms(), scan_from_);
      if (d.status == Status::Ok) {
        scan_from_ = d.pos + 1;  // there may be more: resume after it next time
        return Status::Ok;
      }
      if (d.status == Status::Fenced) return fenced_now();
      // Everything Pending before the sequence started is taken; a nack during
      // it moved the generation past scan_gen_, so it is scanned for again.
      seen_redeliver_gen_ = scan_gen_;
      scan_from_ = 0;
    }
    d = detail::take_next(q, group_, me);
    if (d.status == Status::Ok) detail::start_lease(q, group_, d, me, now_ms());
    if (d.status == Status::Fenced) return fenced_now();
    return d.status;
  };
  const detail::ParkSite site{&q.hot->data_futex, &q.hot->consumers_parked, detail::owner_index(me)};
  Message m;
  m.status_ = detail::wait_until(try_once, Status::Empty, wait_, timeout, site);
  if (m.status_ != Status::Ok) return m;
  const std::uint32_t s = q.slot_of(d.pos);
  const detail::SlotHeader& slot = q.slot(s);
  m.consumer_ = this;
  m.pos_ = d.pos;
  m.count_ = d.count;
  m.id_ = slot.id;
  m.commit_ns_ = slot.commit_ns;
  m.data_ = q.payload(s);
  m.size_ = q.payload_length(s);
  return m;
}

}  // namespace shmq
