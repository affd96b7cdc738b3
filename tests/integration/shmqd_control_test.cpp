// shmqd's control socket (daemon/src/control.cpp, lib/src/control_client.cpp):
// queues created, deleted and purged through a real daemon, with its
// permission checks (children that setuid to nobody), malformed and hostile
// requests on raw sockets, and the fall-back when no daemon runs.
//
// Every test starts shmqd (a fork), so every name contains "MultiProcess"
// (they run under ThreadSanitizer too), and a test makes its shmq::Client only
// after its last fork (see multiprocess_test.cpp).
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "children.hpp"
#include "shmq/admin/control.hpp"
#include "shmq/admin/control.hpp"
#include "os/os.hpp"
#include "observed_queue.hpp"
#include "os/queue_segment.hpp"
#include "parked.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using shmq::errc;
using shmq::Status;
using shmq::admin::ControlOp;
using shmq::admin::ControlReply;
using shmq::admin::ControlRequest;
using shmq::test::Child;
using shmq::test::ConfigFile;
using shmq::test::exited_cleanly;
using shmq::test::kNoParkSlice;
using shmq::test::kParkLimit;
using shmq::test::kWakeLimit;
using shmq::test::ObservedQueue;
using shmq::test::ParkSliceScope;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::wait_parked;
using ::testing::HasSubstr;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr gid_t kUsers = 100;  // Debian's "users" group

std::string shm_path(const TestNamespace& ns, const std::string& queue) {
  return shmq::detail::shm_path(shmq::detail::queue_segment_name(ns.name(), queue));
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

shmq::QueueConfig small_queue(unsigned mode = 0600) {
  shmq::QueueConfig c;
  c.capacity = 8;
  c.slot_size = 64;
  c.dlq_capacity = 4;
  c.mode = mode;
  return c;
}

ControlRequest request(ControlOp op, const std::string& queue, const shmq::QueueConfig& config = small_queue()) {
  return ControlRequest{op, queue, config};
}

// One raw connection to the control socket, for what the library never sends.
class RawConnection {
 public:
  explicit RawConnection(const TestNamespace& ns) : fd_(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = shmq::admin::control_socket_path(ns.name());
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConnection() { close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  [[nodiscard]] bool connected() const noexcept { return connected_; }
  // Hangs up but keeps the descriptor (so closed_by_daemon can tell when the
  // daemon has seen it): the daemon reads end of file.
  bool hang_up() { return ::shutdown(fd_, SHUT_WR) == 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // One packet; false (with errno) if it was not sent whole.
  bool send(std::string_view packet) {
    return ::send(fd_, packet.data(), packet.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(packet.size());
  }

  // The next packet, or nullopt if the daemon hung up or `timeout` passed.
  std::optional<std::string> receive(std::chrono::milliseconds timeout = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    std::string buf(shmq::admin::kMaxControlMessage, '\0');
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n <= 0) return std::nullopt;
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }

  // True if the daemon closes the connection within `timeout`.
  bool closed_by_daemon(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
    char c = 0;
    return ::recv(fd_, &c, 1, MSG_DONTWAIT) == 0;
  }

  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_;
  bool connected_ = false;
};

// Sends `packet` on a new connection and returns the reply as JSON
// ({"no_reply":true} if there was none).
json ask(const TestNamespace& ns, std::string_view packet) {
  RawConnection c(ns);
  if (!c.connected() || !c.send(packet)) return json{{"no_reply", true}, {"errno", errno}};
  const std::optional<std::string> reply = c.receive();
  if (!reply) return json{{"no_reply", true}};
  return json::parse(*reply, nullptr, false);
}

// The error text of a refused request (for EXPECT_THAT), "" if it was not refused.
std::string refusal(const json& reply, const std::string& code) {
  if (!reply.is_object() || reply.value("ok", true) || reply.value("code", std::string()) != code)
    return "<not refused with " + code + ": " + reply.dump() + ">";
  return reply.value("error", std::string());
}

// Drops root for a child: supplementary groups, gid, then uid.
bool become(uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
  return ::setgroups(groups.size(), groups.data()) == 0 && ::setgid(gid) == 0 && ::setuid(uid) == 0;
}

// A child's check: prints what failed and makes the child exit non-zero.
#define CHILD_CHECK(cond, ...)                          \
  do {                                                  \
    if (!(cond)) return shmq::test::fail(1, __VA_ARGS__); \
  } while (0)

// The reply of call_daemon for a child's checks, with errors as text.
std::string outcome(const TestNamespace& ns, const ControlRequest& r) {
  try {
    const std::optional<ControlReply> reply = shmq::admin::call_daemon(ns.name(), r, 10s);
    if (!reply) return "no daemon";
    if (reply->ok) return "ok";
    return std::string(shmq::admin::errc_name(reply->code)) + ": " + reply->error;
  } catch (const shmq::Error& e) {
    return std::string("threw ") + shmq::admin::errc_name(e.value()) + ": " + e.what();
  }
}

// ---- tests ----------------------------------------------------------------------

TEST(ShmqdControlTest, MultiProcessCreateAndDeleteGoThroughTheDaemon) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  struct stat sock {};
  ASSERT_EQ(::stat(shmq::admin::control_socket_path(ns.name()).c_str(), &sock), 0);
  EXPECT_TRUE(S_ISSOCK(sock.st_mode));
  EXPECT_EQ(sock.st_mode & 0777U, 0666U);

  shmq::Client client({.ns = ns.name()});
  shmq::QueueConfig config = small_queue(0640);
  config.groups = {{"billing", shmq::DeliveryMode::AtLeastOnce, 3, 5000ms},
                   {"audit", shmq::DeliveryMode::AtMostOnce, 5, 30'000ms}};
  client.create_queue("jobs", config);
  EXPECT_TRUE(daemon.wait_for("uid 0: create jobs: ok")) << daemon.err();
  struct stat st {};
  ASSERT_EQ(::stat(shm_path(ns, "jobs").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0640U);  // its owner: MultiProcessQueueIsOwnedByTheRequestersUidAndGid

  // Visible and usable like any queue.
  EXPECT_THAT(client.list_queues(), ::testing::Contains("jobs"));
  shmq::Producer producer = client.producer("jobs");
  shmq::Consumer billing = client.consumer("jobs", "billing");
  ASSERT_EQ(producer.send("hello", 10s), Status::Ok);
  shmq::Message m = billing.receive(10s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m.text(), "hello");
  EXPECT_EQ(m.ack(), Status::Ok);

  // An existing queue, a bad setting, a bad name: the daemon's errors.
  try {
    client.create_queue("jobs", small_queue());
    ADD_FAILURE() << "created jobs twice";
  } catch (const shmq::Error& e) {
    EXPECT_EQ(e.value(), errc::already_exists) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("already exists"));
  }
  shmq::QueueConfig bad = small_queue();
  bad.capacity = 1000;
  try {
    client.create_queue("odd", bad);
    ADD_FAILURE() << "created a queue of capacity 1000";
  } catch (const shmq::Error& e) {
    EXPECT_EQ(e.value(), errc::invalid_argument);
    EXPECT_THAT(e.what(), HasSubstr("capacity 1000 is invalid"));
  }
  bad = small_queue();
  bad.groups[0].max_deliveries = 0;
  try {
    client.create_queue("odd", bad);
    ADD_FAILURE() << "created a queue with max_deliveries 0";
  } catch (const shmq::Error& e) {
    EXPECT_EQ(e.value(), errc::invalid_argument);
    EXPECT_THAT(e.what(), HasSubstr("max deliveries 0 of group 'default'"));
  }
  try {
    client.create_queue("no/slash", small_queue());
    ADD_FAILURE() << "created a queue with a slash in its name";
  } catch (const shmq::Error& e) {
    EXPECT_EQ(e.value(), errc::invalid_argument);
    EXPECT_THAT(e.what(), HasSubstr("queue name 'no/slash' is invalid"));
  }
  EXPECT_FALSE(exists(shm_path(ns, "odd")));
  EXPECT_TRUE(daemon.wait_for("create odd: invalid_argument: capacity 1000 is invalid")) << daemon.err();

  EXPECT_TRUE(client.delete_queue("jobs"));
  EXPECT_FALSE(exists(shm_path(ns, "jobs")));
  EXPECT_FALSE(client.delete_queue("jobs"));  // absent: false, as without a daemon
  EXPECT_TRUE(daemon.wait_for("delete jobs: not_found")) << daemon.err();
  // The attached producer and consumer keep their mapping.
  ASSERT_EQ(producer.send("after delete", 10s), Status::Ok);
  shmq::Message after = billing.receive(10s);
  ASSERT_TRUE(after);
  EXPECT_EQ(after.text(), "after delete");
  EXPECT_EQ(after.ack(), Status::Ok);
}

// shmqd maps a queue it creates, and watches it, before it answers, and
// unmaps one it deletes (detaching from it) before it answers: neither waits
// for its next look at /dev/shm.
TEST(ShmqdControlTest, MultiProcessQueueIsWatchedOnceCreatedAndLetGoOnceDeleted) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  ASSERT_EQ(outcome(ns, request(ControlOp::Create, "watched")), "ok");
  const ObservedQueue q(ns, "watched");
  EXPECT_EQ(q.attached(), 1U) << "shmqd did not watch the queue when it answered the create\n" << daemon.err();
  ASSERT_EQ(outcome(ns, request(ControlOp::Delete, "watched")), "ok");
  EXPECT_EQ(q.attached(), 0U) << "shmqd still watched the queue when it answered the delete\n" << daemon.err();
}

// The daemon (root) makes the segment, then gives it to whoever asked: a
// child that dropped to uid nobody with primary group users, so that the
// expected owner differs from the daemon's (root:root) and its gid from its
// uid (65534:100: a gid taken from the uid would show).
TEST(ShmqdControlTest, MultiProcessQueueIsOwnedByTheRequestersUidAndGid) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to setuid a child to nobody";
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  Child requester([&] {
    if (!become(kNobody, kUsers, {})) return shmq::test::fail(2, "setuid: %s", std::strerror(errno));
    const std::string create = outcome(ns, request(ControlOp::Create, "theirs", small_queue(0640)));
    CHILD_CHECK(create == "ok", "create theirs: %s", create.c_str());
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(requester.wait(60s)));
  EXPECT_TRUE(daemon.wait_for("uid 65534: create theirs: ok")) << daemon.err();
  struct stat st {};
  ASSERT_EQ(::stat(shm_path(ns, "theirs").c_str(), &st), 0) << std::strerror(errno);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_gid, kUsers);
  EXPECT_EQ(st.st_mode & 0777U, 0640U);
}

TEST(ShmqdControlTest, MultiProcessPurgeDropsReadyAndPendingAndKeepsLeased) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  shmq::Client client({.ns = ns.name()});
  client.create_queue("work", small_queue());
  shmq::Producer producer = client.producer("work");
  shmq::Consumer consumer = client.consumer("work");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(producer.send("m" + std::to_string(i), 10s), Status::Ok);
  shmq::Message held = consumer.try_receive();
  ASSERT_TRUE(held);
  EXPECT_EQ(held.text(), "m0");
  {
    shmq::Message nacked = consumer.try_receive();
    ASSERT_TRUE(nacked);
    ASSERT_EQ(nacked.nack(), Status::Ok);  // Pending: purged too
  }

  EXPECT_EQ(client.purge_queue("work"), 4U);  // m1 (pending), m2..m4 (ready)
  EXPECT_TRUE(daemon.wait_for("purge work: ok, 4 messages dropped")) << daemon.err();
  EXPECT_FALSE(consumer.try_receive());
  EXPECT_EQ(held.ack(), Status::Ok);  // the leased one is untouched

  // Every slot is free again: a full ring goes in and comes out, in order.
  for (int i = 0; i < 8; ++i) ASSERT_EQ(producer.send("n" + std::to_string(i), 10s), Status::Ok) << i;
  for (int i = 0; i < 8; ++i) {
    shmq::Message m = consumer.try_receive();
    ASSERT_TRUE(m) << i;
    EXPECT_EQ(m.text(), "n" + std::to_string(i));
    EXPECT_EQ(m.ack(), Status::Ok);
  }
  EXPECT_EQ(client.purge_queue("work"), 0U);

  // Purge of a queue that does not exist.
  try {
    (void)client.purge_queue("nothere");
    ADD_FAILURE() << "purged a missing queue";
  } catch (const shmq::Error& e) {
    EXPECT_EQ(e.value(), errc::not_found);
    EXPECT_THAT(e.what(), HasSubstr("queue 'nothere' not found"));
  }
}

// The producer blocks in this process's main thread; another thread asks for
// the purge once the main thread is asleep on the queue's futex. The park
// slice is off (parked.hpp): a purge that forgot to wake leaves the producer
// asleep until its send gives up after kWakeLimit, and the test fails.
TEST(ShmqdControlTest, MultiProcessPurgeWakesAProducerBlockedOnAFullQueue) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const ParkSliceScope no_slice(kNoParkSlice);
  shmq::Client client({.ns = ns.name()});
  client.create_queue("full", small_queue());
  shmq::Producer producer = client.producer("full", {shmq::WaitStrategy::Park});
  for (int i = 0; i < 8; ++i) ASSERT_EQ(producer.send("x", 10s), Status::Ok);
  ASSERT_FALSE(producer.try_loan(1)) << "the queue should be full";
  const shmq::detail::MappedQueue q = shmq::detail::open_queue_segment(ns.name(), "full");
  std::thread purger([&] {
    // Without the purge the producer's send fails after kWakeLimit: no hang.
    if (!wait_parked(::getpid(), q.view.hot->producers_parked, kParkLimit)) {
      ADD_FAILURE() << "the producer never parked on the full queue";
      return;
    }
    EXPECT_EQ(client.purge_queue("full"), 8U);
  });
  EXPECT_EQ(producer.send("after purge", kWakeLimit), Status::Ok) << "a purge must wake a parked producer";
  purger.join();
}

TEST(ShmqdControlTest, MultiProcessOnlyOwnerGroupOrRootMayDeleteOrPurge) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to setuid children to nobody";
  TestNamespace ns;
  // A configured queue with an owner group: its group is "users" (gid 100).
  ConfigFile config("[queues.team]\ncapacity = 8\nslot_size = 64\nmode = 0o660\nowner_group = \"users\"\n");
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  ASSERT_EQ(outcome(ns, request(ControlOp::Create, "private")), "ok");  // root's, 0600

  // nobody, in no group of interest: refused, with who may.
  Child outsider([&] {
    if (!become(kNobody, kNogroup, {})) return shmq::test::fail(2, "setuid: %s", std::strerror(errno));
    const std::string del = outcome(ns, request(ControlOp::Delete, "private"));
    CHILD_CHECK(del == "permission_denied: permission denied: queue 'private' belongs to uid 0 (group 0); only its "
                       "owner, its group or root may delete it (you are uid 65534)",
                "delete private: %s", del.c_str());
    const std::string purge = outcome(ns, request(ControlOp::Purge, "private"));
    CHILD_CHECK(purge.starts_with("permission_denied: permission denied: queue 'private' belongs to uid 0 (group 0); "
                                  "only its owner, its group or root may purge it"),
                "purge private: %s", purge.c_str());
    const std::string team = outcome(ns, request(ControlOp::Purge, "team"));
    CHILD_CHECK(team.starts_with("permission_denied: permission denied: queue 'team' belongs to uid 0 (group 100)"),
                "purge team: %s", team.c_str());
    // Its own queue: created for it, then purged and deleted by it.
    const std::string create = outcome(ns, request(ControlOp::Create, "mine"));
    CHILD_CHECK(create == "ok", "create mine: %s", create.c_str());
    struct stat st {};
    CHILD_CHECK(::stat(shm_path(ns, "mine").c_str(), &st) == 0, "stat mine: %s", std::strerror(errno));
    CHILD_CHECK(st.st_uid == kNobody && st.st_gid == kNogroup && (st.st_mode & 0777U) == 0600U,
                "mine is %u:%u mode 0%o", st.st_uid, st.st_gid, st.st_mode & 0777U);
    // Its owner can map it (the library directly, no daemon involved).
    try {
      (void)shmq::detail::open_queue_segment(ns.name(), "mine");
    } catch (const shmq::Error& e) {
      return shmq::test::fail(1, "open mine: %s", e.what());
    }
    const std::string purged = outcome(ns, request(ControlOp::Purge, "mine"));
    CHILD_CHECK(purged == "ok", "purge mine: %s", purged.c_str());
    const std::string deleted = outcome(ns, request(ControlOp::Delete, "mine"));
    CHILD_CHECK(deleted == "ok", "delete mine: %s", deleted.c_str());
    CHILD_CHECK(!exists(shm_path(ns, "mine")), "mine still exists");
    return 0;
  });
  EXPECT_TRUE(exited_cleanly(outsider.wait(60s)));
  EXPECT_TRUE(exists(shm_path(ns, "private")));
  EXPECT_TRUE(daemon.wait_for("uid 65534: delete private: permission_denied")) << daemon.err();

  // nobody with "users" as a supplementary group: a member of team's group.
  Child member([&] {
    if (!become(kNobody, kNogroup, {kUsers})) return shmq::test::fail(2, "setuid: %s", std::strerror(errno));
    const std::string purge = outcome(ns, request(ControlOp::Purge, "team"));
    CHILD_CHECK(purge == "ok", "purge team: %s", purge.c_str());
    const std::string del = outcome(ns, request(ControlOp::Delete, "team"));
    CHILD_CHECK(del == "ok", "delete team: %s", del.c_str());
    // Created again by it: its uid, and the configured owner group.
    const std::string create = outcome(ns, request(ControlOp::Create, "team", small_queue(0660)));
    CHILD_CHECK(create == "ok", "create team: %s", create.c_str());
    struct stat st {};
    CHILD_CHECK(::stat(shm_path(ns, "team").c_str(), &st) == 0, "stat team: %s", std::strerror(errno));
    CHILD_CHECK(st.st_uid == kNobody && st.st_gid == kUsers && (st.st_mode & 0777U) == 0660U,
                "team is %u:%u mode 0%o", st.st_uid, st.st_gid, st.st_mode & 0777U);
    return 0;
  });
  EXPECT_TRUE(exited_cleanly(member.wait(60s)));

  // Root may do anything: purge and delete nobody's queue.
  EXPECT_EQ(outcome(ns, request(ControlOp::Purge, "team")), "ok");
  EXPECT_EQ(outcome(ns, request(ControlOp::Delete, "team")), "ok");
  EXPECT_EQ(outcome(ns, request(ControlOp::Delete, "private")), "ok");
}

TEST(ShmqdControlTest, MultiProcessMalformedRequestsGetErrorsAndNeverStopTheDaemon) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();

  // A client that connects and sends nothing, held open during everything
  // else: the daemon serves the others meanwhile and closes it after ~5 s.
  RawConnection silent(ns);
  ASSERT_TRUE(silent.connected());
  const std::uint64_t silent_since = shmq::test::now_ms();

  EXPECT_FALSE(silent.closed_by_daemon(0ms)) << "an idle connection was closed at once";
  EXPECT_THAT(refusal(ask(ns, std::string("\x00\xff\xfe garbage", 11)), "invalid_argument"), HasSubstr("not valid JSON"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","con)"), "invalid_argument"), HasSubstr("not valid JSON"));
  EXPECT_THAT(refusal(ask(ns, R"([1,2,3])"), "invalid_argument"), HasSubstr("must be a JSON object, not an array"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"explode","queue":"q"})"), "invalid_argument"), HasSubstr("unknown op \"explode\""));
  EXPECT_THAT(refusal(ask(ns, R"({"queue":"q"})"), "invalid_argument"), HasSubstr("missing \"op\""));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"purge"})"), "invalid_argument"), HasSubstr("missing \"queue\""));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"delete","queue":42})"), "invalid_argument"),
              HasSubstr("queue must be a string, not a number"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"delete","queue":"q","force":true})"), "invalid_argument"),
              HasSubstr("unknown key \"force\""));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q"})"), "invalid_argument"), HasSubstr("missing \"config\""));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"capacity":"big"}})"), "invalid_argument"),
              HasSubstr("config.capacity must be a non-negative integer, not a string"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"capacity":-8}})"), "invalid_argument"),
              HasSubstr("config.capacity must be a non-negative integer, not a negative number"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"capacity":1e99}})"), "invalid_argument"),
              HasSubstr("config.capacity must be a non-negative integer, not a fractional number"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"slot_size":99999999999}})"), "invalid_argument"),
              HasSubstr("config.slot_size 99999999999 is too large"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"groups":[{"delivery":"at-most-once"}]}})"),
                      "invalid_argument"),
              HasSubstr("missing \"name\" in config.groups[0]"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"mode":"rwx"}})"), "invalid_argument"),
              HasSubstr("config.mode must be octal"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"mode":"0400"}})"), "invalid_argument"),
              HasSubstr("mode 0400 is invalid"));  // the library's own check of the value
  EXPECT_THAT(refusal(ask(ns, R"({"op":"delete","queue":"../registry"})"), "invalid_argument"),
              HasSubstr("queue name '../registry' is invalid"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"delete","queue":""})"), "invalid_argument"), HasSubstr("queue name '' is invalid"));
  // Deep nesting within the size limit: refused, not a stack overflow.
  EXPECT_THAT(refusal(ask(ns, std::string(30'000, '[') + std::string(30'000, ']')), "invalid_argument"),
              HasSubstr("must be a JSON object"));

  if (shmq::test::now_ms() - silent_since < 4'000) {
    EXPECT_FALSE(silent.closed_by_daemon(0ms)) << "an idle connection was closed before its timeout";
  }

  // Oversized: just over the limit, and 1 MiB (a bigger send buffer lets the
  // packet leave this process; the daemon reads 64 KiB of it and sees the rest
  // was cut off).
  EXPECT_THAT(refusal(ask(ns, std::string(shmq::admin::kMaxControlMessage + 1, ' ')), "invalid_argument"),
              HasSubstr("65537 bytes, more than the 65536-byte limit"));
  {
    RawConnection big(ns);
    ASSERT_TRUE(big.connected());
    const int size = 4 << 20;
    ASSERT_EQ(::setsockopt(big.fd(), SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size), 0) << std::strerror(errno);
    const std::string mib(1 << 20, 'x');
    ASSERT_TRUE(big.send(mib)) << std::strerror(errno);
    const std::optional<std::string> reply = big.receive();
    ASSERT_TRUE(reply);
    EXPECT_THAT(refusal(json::parse(*reply), "invalid_argument"), HasSubstr("1048576 bytes, more than the"));
  }

  // Several requests on one connection: one reply each, in order.
  {
    RawConnection c(ns);
    ASSERT_TRUE(c.send(R"({"op":"purge","queue":"a"})"));
    ASSERT_TRUE(c.send("nonsense"));
    ASSERT_TRUE(c.send(R"({"op":"delete","queue":"b"})"));
    const auto r1 = c.receive(), r2 = c.receive(), r3 = c.receive();
    ASSERT_TRUE(r1 && r2 && r3);
    EXPECT_THAT(refusal(json::parse(*r1), "not_found"), HasSubstr("queue 'a' not found"));
    EXPECT_THAT(refusal(json::parse(*r2), "invalid_argument"), HasSubstr("not valid JSON"));
    EXPECT_THAT(refusal(json::parse(*r3), "not_found"), HasSubstr("queue 'b' not found"));
  }

  // Clients that hang up: right after connecting, and right after a request
  // (the daemon's reply goes nowhere).
  for (int i = 0; i < 10; ++i) {
    RawConnection gone(ns);
    ASSERT_TRUE(gone.connected());
    if (i % 2 == 1) {
      ASSERT_TRUE(gone.send(R"({"op":"create","queue":"half","config":{"capa)"));
    }
  }
  {
    RawConnection gone(ns);
    ASSERT_TRUE(gone.send(R"({"op":"create","queue":"hangup","config":{"capacity":8,"slot_size":64}})"));
  }

  // The daemon is alive and serves a well-formed request.
  const json created = ask(ns, R"({"op":"create","queue":"good","config":{"capacity":8,"slot_size":64}})");
  EXPECT_EQ(created, json({{"ok", true}}));
  EXPECT_TRUE(exists(shm_path(ns, "good")));
  EXPECT_EQ(::kill(daemon.pid(), 0), 0);

  // The silent client was closed after the idle timeout (~5 s), not before.
  EXPECT_TRUE(silent.closed_by_daemon(30s)) << "an idle connection was kept open";
  EXPECT_GE(shmq::test::now_ms() - silent_since, 4'500U);
  EXPECT_EQ(ask(ns, R"({"op":"delete","queue":"good"})"), json({{"ok", true}}));
}

TEST(ShmqdControlTest, MultiProcessConnectionsPastTheLimitAreRefusedNotQueued) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 64; ++i) {
    idle.push_back(std::make_unique<RawConnection>(ns));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  // The daemon accepts them all (a request on the last one is answered)...
  ASSERT_TRUE(idle.back()->send(R"({"op":"purge","queue":"x"})"));
  ASSERT_TRUE(idle.back()->receive());
  // ...and answers the 65th with an error at once.
  RawConnection extra(ns);
  ASSERT_TRUE(extra.connected());
  const std::optional<std::string> busy = extra.receive();
  ASSERT_TRUE(busy);
  EXPECT_THAT(refusal(json::parse(*busy), "daemon_unavailable"), HasSubstr("64 control connections open"));
  // They hang up, and each waits until the daemon has closed its end: then
  // the daemon has dropped all 64, and the next request must be served.
  for (std::size_t i = 0; i < idle.size(); ++i) {
    ASSERT_TRUE(idle[i]->hang_up()) << i << ": " << std::strerror(errno);
    ASSERT_TRUE(idle[i]->closed_by_daemon(10s)) << "the daemon did not close connection " << i;
  }
  idle.clear();
  EXPECT_THAT(refusal(ask(ns, R"({"op":"purge","queue":"x"})"), "not_found"), HasSubstr("queue 'x' not found"));
}

TEST(ShmqdControlTest, MultiProcessStoppedDaemonTimesOutInsteadOfHanging) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  ASSERT_EQ(::kill(daemon.pid(), SIGSTOP), 0);
  {
    shmq::Client client({.ns = ns.name(), .daemon_timeout = 300ms});
    const std::uint64_t start = shmq::test::now_ms();
    try {
      client.create_queue("late", small_queue());
      ADD_FAILURE() << "a stopped daemon created a queue";
    } catch (const shmq::Error& e) {
      EXPECT_EQ(e.value(), errc::timeout) << e.what();
      EXPECT_THAT(e.what(), HasSubstr("did not reply within 300 ms"));
    }
    EXPECT_LT(shmq::test::now_ms() - start, 5'000U);
  }
  ASSERT_EQ(::kill(daemon.pid(), SIGCONT), 0);
}

TEST(ShmqdControlTest, MultiProcessWithoutADaemonCreateFallsBackAndPurgeSaysToStartOne) {
  TestNamespace ns;
  const std::string sock = shmq::admin::control_socket_path(ns.name());
  {
    shmq::Client client({.ns = ns.name()});
    client.create_queue("direct", small_queue());
    EXPECT_TRUE(exists(shm_path(ns, "direct")));
    try {
      (void)client.purge_queue("direct");
      ADD_FAILURE() << "purged without a daemon";
    } catch (const shmq::Error& e) {
      EXPECT_EQ(e.value(), errc::daemon_unavailable);
      EXPECT_EQ(std::string(e.what()),
                "no shmqd in namespace " + ns.name() + ": start `shmqd --namespace " + ns.name() + "`");
    }
    EXPECT_TRUE(client.delete_queue("direct"));
    EXPECT_FALSE(client.delete_queue("direct"));

    // A socket file a dead daemon left (nobody listens): the same fall-back.
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    ::close(fd);
    ASSERT_TRUE(exists(sock));
    client.create_queue("stale", small_queue());
    EXPECT_TRUE(exists(shm_path(ns, "stale")));
  }
  // A daemon started now replaces the stale socket and serves.
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  EXPECT_THAT(daemon.err(), HasSubstr("removed the stale control socket"));
  EXPECT_EQ(ask(ns, R"({"op":"delete","queue":"stale"})"), json({{"ok", true}}));
  // Stopped cleanly, it removes its socket: clients fall back at once.
  daemon.stop(SIGTERM);
  EXPECT_FALSE(exists(sock));
}

}  // namespace
