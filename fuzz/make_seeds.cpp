// shmq-fuzz-seeds DIR: writes the seeds of fuzz/corpus/ that the library
// itself makes, so they follow the layout: queue segments in a few states
// (DIR/segment/) and control requests and replies (DIR/control/). The config
// and cli seeds are written by hand. Run it after a layout change:
//   build/fuzz/fuzz/shmq-fuzz-seeds fuzz/corpus
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "shmq/admin/control.hpp"
#include "shmq/admin/namespace.hpp"
#include "shmq/client.hpp"

namespace {

namespace fs = std::filesystem;
using namespace shmq;
using namespace std::chrono_literals;

const std::string kNs = "fuzzseeds" + std::to_string(::getpid());  // NOLINT(cert-err58-cpp): no memory at start ends the run

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  std::printf("%s (%zu bytes)\n", path.c_str(), bytes.size());
}

// The segment's bytes as they are now.
std::string segment_bytes(const std::string& queue) {
  std::ifstream in(admin::object_path(admin::queue_object(kNs, queue)), std::ios::binary | std::ios::ate);
  std::string bytes(static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg())), '\0');
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

QueueConfig config(std::uint32_t capacity, std::uint32_t slot_size, std::uint32_t dlq_capacity,
                   std::vector<GroupConfig> groups) {
  QueueConfig c;
  c.capacity = capacity;
  c.slot_size = slot_size;
  c.dlq_capacity = dlq_capacity;
  c.groups = std::move(groups);
  return c;
}

void segment_seeds(const fs::path& dir) {
  Client client(ClientOptions{.ns = kNs});
  // A new queue: nothing sent.
  client.create_queue("empty", config(2, 64, 0, {GroupConfig{}}));
  write_file(dir / "empty-capacity2", segment_bytes("empty"));

  // Two groups (one at-most-once), messages ready, one leased, one loaned,
  // this session attached as producer and consumer.
  client.create_queue("busy", config(4, 32, 2, {GroupConfig{}, GroupConfig{.name = "audit", .mode = DeliveryMode::AtMostOnce}}));
  {
    Producer p = client.producer("busy");
    (void)p.send("first message", 0ms);
    (void)p.send("second", 0ms);
    Consumer c = client.consumer("busy", "default");
    Message m = c.try_receive();
    Loan loan = p.try_loan(8);
    write_file(dir / "busy-two-groups", segment_bytes("busy"));
    m.keep_lease();
  }

  // A dead letter: delivered once, nacked, past max_deliveries 1.
  client.create_queue("dead", config(2, 16, 2, {GroupConfig{.max_deliveries = 1, .lease_timeout = 1000ms}}));
  {
    Producer p = client.producer("dead");
    (void)p.send("poison", 0ms);
    Consumer c = client.consumer("dead", "default");
    Message m = c.try_receive();
    (void)m.nack();
    (void)admin::Namespace(kNs).writable_queue("dead").expire_leases(client.session_id());
    write_file(dir / "dead-letter", segment_bytes("dead"));
  }
}

void control_seeds(const fs::path& dir) {
  using namespace admin;
  QueueConfig c = config(1024, 4096, 64, {GroupConfig{}, GroupConfig{.name = "audit", .mode = DeliveryMode::AtMostOnce}});
  write_file(dir / "create", encode_request({ControlOp::Create, "orders", c}));
  write_file(dir / "delete", encode_request({ControlOp::Delete, "orders", {}}));
  write_file(dir / "purge", encode_request({ControlOp::Purge, "orders", {}}));
  write_file(dir / "ping", encode_request({ControlOp::Ping, {}, {}}));
  ControlReply ok;
  ok.ok = true;
  write_file(dir / "reply-ok", encode_reply(ok));
  ControlReply refused;
  refused.code = errc::permission_denied;
  refused.error = "permission denied: ask the owner";
  write_file(dir / "reply-error", encode_reply(refused));
  ControlReply purged = ok;
  purged.purged = 7;
  purged.groups = {{"default", 5, 2}};
  write_file(dir / "reply-purged", encode_reply(purged));
  ControlReply pong = ok;
  pong.pid = 4242;
  write_file(dir / "reply-ping", encode_reply(pong));
}

void remove_namespace() {
  admin::remove_namespace(kNs);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: shmq-fuzz-seeds DIR (e.g. fuzz/corpus)\n");
    return 2;
  }
  const fs::path root = argv[1];
  try {
    fs::create_directories(root / "segment");
    fs::create_directories(root / "control");
    segment_seeds(root / "segment");
    control_seeds(root / "control");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmq-fuzz-seeds: %s\n", e.what());
    remove_namespace();
    return 1;
  }
  remove_namespace();
  return 0;
}
