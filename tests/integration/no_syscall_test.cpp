// DESIGN.md §1: "a producer makes no system call when nobody is parked", and
// an acker likewise (README, WaitOptions). A forked child runs sends and
// receive + acks on a thread under a seccomp filter that traps every system
// call but the few a thread needs to return from a signal and to end
// (SECCOMP_RET_TRAP: the call is not made, SIGSYS is raised instead); the
// handler counts them. Nobody parks (BusySpin, try_ forms, no other process),
// so the count must stay 0: one futex_wake per commit or ack would show.
//
// The filter applies to that one thread only (no SECCOMP_FILTER_FLAG_TSYNC):
// the Client's heartbeat thread, and the setup before the filter, may make
// whatever calls they like. The filtered thread ends the child with
// exit_group once it has written its results to shared memory.
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "children.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::test::Child;
using shmq::test::exited_cleanly;
using shmq::test::fail;
using shmq::test::SharedArray;
using shmq::test::TestNamespace;

constexpr auto kChildDeadline = 60s;
constexpr std::uint32_t kCapacity = 64;
constexpr std::chrono::nanoseconds kNow{0};  // send without waiting (try_send takes bytes)
constexpr int kRounds = 8;  // each fills the ring and empties it: laps wrap

// System calls the filtered thread made: how many, and the first one's number.
// NOLINTBEGIN(cppcoreguidelines-avoid-non-const-global-variables): what a signal handler writes
std::atomic<std::uint64_t> g_trapped{0};
std::atomic<int> g_first_trapped{-1};
// NOLINTEND(cppcoreguidelines-avoid-non-const-global-variables)

void on_sigsys(int /*signo*/, siginfo_t* info, void* /*context*/) {
  if (g_trapped.fetch_add(1, std::memory_order_relaxed) == 0)
    g_first_trapped.store(info->si_syscall, std::memory_order_relaxed);
}

// Traps every system call of the calling thread but rt_sigreturn (to leave
// the SIGSYS handler), exit and exit_group. False if it cannot be installed.
bool trap_system_calls() {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGSYS, &sa, nullptr) != 0) return false;
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  const sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// What the child saw.
struct Result {
  std::atomic<int> installed{0};
  std::atomic<int> error{0};  // errno of a failed install
  std::atomic<std::uint64_t> trapped{0};
  std::atomic<int> first{-1};
  std::atomic<int> failure{0};  // a Status other than Ok, +1
  std::atomic<int> finished{0};  // the sends and acks are done
};

TEST(NoSyscallTest, MultiProcessProducerAndAckerMakeNoSystemCallWhenNobodyParks) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the filter checks AUDIT_ARCH_X86_64";
#endif
  const TestNamespace ns;
  const SharedArray<Result> result(1);
  Child child([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::QueueConfig config;
    config.capacity = kCapacity;
    config.slot_size = 64;
    c.create_queue("q", config);
    const shmq::WaitOptions spin{.strategy = shmq::WaitStrategy::BusySpin};
    shmq::Producer p = c.producer("q", spin);
    shmq::Consumer consumer = c.consumer("q", "default", spin);
    Result& r = result[0];
    std::thread filtered([&] {
      if (!trap_system_calls()) {
        r.error = errno;
        return;
      }
      r.installed = 1;
      for (int round = 0; round < kRounds && r.failure == 0; ++round) {
        for (std::uint32_t i = 0; i < kCapacity; ++i)
          if (const Status s = p.send("no system call", kNow); s != Status::Ok) r.failure = static_cast<int>(s) + 1;
        for (std::uint32_t i = 0; i < kCapacity; ++i) {
          shmq::Message m = consumer.try_receive();
          if (!m) r.failure = static_cast<int>(m.status()) + 1;
          else if (const Status s = m.ack(); s != Status::Ok) r.failure = static_cast<int>(s) + 1;
        }
      }
      r.trapped = g_trapped.load();
      r.first = g_first_trapped.load();
      r.finished = 1;
      // Ending this thread makes calls the filter would skip (and then
      // crash); exit_group is allowed, and the results are in shared memory.
      ::syscall(SYS_exit_group, 0);
    });
    filtered.join();  // only if the filter could not be installed
    if (r.installed == 0) return fail(10, "cannot install the seccomp filter (errno %d)", r.error.load());
    return 0;
  });
  const shmq::test::ChildExit e = child.wait(kChildDeadline);
  const Result& r = result[0];
  ASSERT_EQ(r.installed.load(), 1) << "no filter: " << exited_cleanly(e).message();
  ASSERT_EQ(r.finished.load(), 1) << "the sends and acks did not finish: " << exited_cleanly(e).message();
  ASSERT_EQ(r.failure.load(), 0) << "a send, receive or ack failed: status " << r.failure.load() - 1;
  EXPECT_EQ(r.trapped.load(), 0U) << "system calls made with nobody parked; the first was number " << r.first.load()
                                  << " (see <sys/syscall.h>)";
  EXPECT_TRUE(exited_cleanly(e));
}

}  // namespace
