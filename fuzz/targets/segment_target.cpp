// A queue segment with arbitrary bytes, found in /dev/shm by everything that
// opens existing segments: shmq-cli (stat, peek, check, dlq list), shmqd
// adopting it (recovery, lease expiry) and a client attaching a consumer and a
// producer. Every refusal must be a shmq::Error; whatever opens must never let
// a reader past the end of a slot.
//
// The input is written twice: as it is (the header checks), and "resealed":
// magic, version, namespace, total size and checksum made right, so the
// fuzzer reaches past the checksum into the configuration and the state words.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "core/dlq.hpp"
#include "core/inspect.hpp"
#include "core/purge.hpp"
#include "core/recovery.hpp"
#include "core/registry.hpp"
#include "layout/header.hpp"
#include "os/names.hpp"
#include "os/process.hpp"
#include "os/segment.hpp"
#include "os/queue_segment.hpp"
#include "shmq/client.hpp"
#include "shmq/error.hpp"
#include "targets.hpp"

namespace shmq::fuzz {

namespace {

using namespace shmq::detail;

constexpr const char* kQueue = "fuzzed";

std::string& ns_storage() {
  static std::string ns = [] {
    const char* env = std::getenv("SHMQ_FUZZ_NAMESPACE");
    return env != nullptr && *env != '\0' ? std::string(env) : "fuzz" + std::to_string(::getpid());
  }();
  return ns;
}

// One session for the whole run (a Client per input would cost a thread).
std::unique_ptr<Client>& client_storage() {
  static std::unique_ptr<Client> stored;
  return stored;
}

Client& client() {
  auto& c = client_storage();
  if (!c) c = std::make_unique<Client>(ClientOptions{.ns = fuzz_namespace()});
  return *c;
}

const MappedRegistry& registry() {
  static const MappedRegistry r = open_or_create_registry(fuzz_namespace());
  return r;
}

void write_segment(const std::uint8_t* data, std::size_t size) {
  const std::string path = shm_path(queue_segment_name(fuzz_namespace(), kQueue));
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) broken("segment", "cannot write " + path);
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) broken("segment", "cannot write " + path);
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

// The input with a header that passes validate_segment_header.
std::vector<std::uint8_t> resealed(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  if (size < kInfoPage) return bytes;
  auto* h = reinterpret_cast<SegmentHeader*>(bytes.data());
  auto* info = reinterpret_cast<QueueInfo*>(bytes.data() + sizeof(SegmentHeader));
  std::memset(info->namespace_name, 0, sizeof info->namespace_name);
  std::memcpy(info->namespace_name, fuzz_namespace().data(), fuzz_namespace().size());
  h->magic = kQueueMagic;
  h->kind = static_cast<std::uint32_t>(SegmentKind::Queue);
  h->info_size = sizeof(QueueInfo);
  h->total_size = size;
  h->info_checksum = fnv1a(reinterpret_cast<const unsigned char*>(info), sizeof(QueueInfo));
  h->layout_version.store(kLayoutVersion, std::memory_order_relaxed);
  return bytes;
}

// A copy a reader got must lie inside one payload area.
void check_length(const QueueView& q, std::size_t length, const char* what) {
  if (length > q.slot_size())
    broken("segment", std::string(what) + " of " + std::to_string(length) + " bytes from slots of " +
                          std::to_string(q.slot_size()));
}

// shmq-cli: stat, peek, check, dlq list (read only).
void inspect(const std::string& ns) {
  MappedQueue m = open_queue_segment(ns, kQueue);
  m.view.sessions = registry().view.sessions;
  (void)config_of(m.view);
  (void)audit(m.view);
  (void)queue_stats(m.view);
  for (std::uint32_t g = 0; g < m.view.group_count; ++g)
    for (const PeekedMessage& p : peek_messages(m.view, g, 8)) check_length(m.view, p.data.size(), "a peeked message");
  for (const DeadLetter& d : list_dead_letters(m.view)) check_length(m.view, d.data.size(), "a dead letter");
}

// shmqd adopting the queue: take back what dead sessions held, expire leases
// (dead-lettering past max_deliveries), replay and purge dead letters, purge
// (last: it empties the queue).
void adopt(const std::string& ns, Owner me) {
  MappedQueue m = open_queue_segment(ns, kQueue);
  m.view.sessions = registry().view.sessions;
  std::set<Owner> owners;
  for (std::uint32_t i = 0; i < kMaxSessions && owners.size() < 4; ++i)
    if (const Owner o = m.view.attachments[i].owner.load(std::memory_order_relaxed); o != kNoOwner && o != me)
      owners.insert(o);
  for (const Owner o : owners) (void)recover_session(m.view, o, false);
  (void)expire_leases(m.view, monotonic_ms_not_before() + 1'000'000'000ULL, me);
  for (std::uint32_t i = 0; i < std::min(m.view.dlq_capacity, 4U); ++i)
    (void)replay_dead_letter(m.view, i, me, monotonic_ns());
  if (m.view.dlq_capacity > 0) (void)purge_dead_letter(m.view, 0);
  (void)purge(m.view);
}

// A client: a consumer of the first group receives and acks, a producer sends.
void attach(const std::string& ns) {
  const std::size_t slot_size = [&] {
    MappedQueue m = open_queue_segment(ns, kQueue);
    return std::size_t{m.view.slot_size()};
  }();
  const std::string group = [&] {
    MappedQueue m = open_queue_segment(ns, kQueue);
    return fixed_string(m.view.group_info(0).name);
  }();
  try {
    Consumer consumer = client().consumer(kQueue, group);
    for (int i = 0; i < 4; ++i) {
      Message msg = consumer.try_receive();
      if (!msg) break;
      if (msg.data().size() > slot_size) broken("segment", "try_receive gave a message larger than its slot");
      (void)msg.ack();
    }
  } catch (const Error& e) {
    if (e.value() != errc::not_found) throw;  // a group name nobody can use
  }
  Producer producer = client().producer(kQueue);
  const std::string_view text = "fuzz";
  (void)producer.try_send(std::as_bytes(std::span(text.data(), text.size())));
}

void exercise() {
  const std::string& ns = fuzz_namespace();
  try {
    inspect(ns);
  } catch (const Error&) {
    return;  // refused: every other step would refuse it too
  }
  try {
    attach(ns);
  } catch (const Error&) {
  }
  try {
    adopt(ns, client().session_id());
  } catch (const Error&) {
  }
}

}  // namespace

void set_namespace(const std::string& ns) {
  validate_namespace(ns);
  ns_storage() = ns;
}

const std::string& fuzz_namespace() { return ns_storage(); }

void shutdown() {
  client_storage().reset();
  for (const std::string& name : Segment::list(namespace_prefix(fuzz_namespace()))) Segment::remove(name);
  ::unlink(namespace_lock_path(fuzz_namespace()).c_str());
}

void broken(const char* target, const std::string& what) {
  std::fprintf(stderr, "shmq fuzz target %s: %s\n", target, what.c_str());
  std::abort();
}

}  // namespace shmq::fuzz

int shmq_fuzz_segment(const std::uint8_t* data, std::size_t size) {
  shmq::fuzz::write_segment(data, size);
  shmq::fuzz::exercise();
  if (size >= shmq::detail::kInfoPage) {
    const std::vector<std::uint8_t> sealed = shmq::fuzz::resealed(data, size);
    shmq::fuzz::write_segment(sealed.data(), sealed.size());
    shmq::fuzz::exercise();
  }
  return 0;
}
