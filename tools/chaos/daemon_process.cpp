#include "daemon_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <vector>

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "support/shmqd_ready.hpp"
#include "shmq/error.hpp"

namespace shmq::chaos {

namespace {

constexpr std::size_t kTailBytes = 4096;

}  // namespace

DaemonProcess::DaemonProcess(std::string shmqd_path, std::string ns, std::string config_path,
                             const std::string& log_path)
    : path_(std::move(shmqd_path)),
      ns_(std::move(ns)),
      config_path_(std::move(config_path)),
      log_(std::fopen(log_path.c_str(), "w")) {  // NOLINT(cppcoreguidelines-owning-memory): closed in ~DaemonProcess
  if (log_ == nullptr) throw Error(errc::system_error, "cannot write the shmqd log " + log_path);
}

DaemonProcess::~DaemonProcess() {
  if (out_fd_ >= 0) ::close(out_fd_);
  if (ready_fd_ >= 0) ::close(ready_fd_);
  if (log_ != nullptr) std::fclose(log_);  // NOLINT(cppcoreguidelines-owning-memory): the file opened in the constructor
}

void DaemonProcess::start() {
  int out[2];
  int ready_pipe[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw Error(errc::system_error, "pipe2 for shmqd's output failed");
  if (::pipe2(ready_pipe, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw Error(errc::system_error, "pipe2 for shmqd's --ready-fd failed");
  }
  std::vector<std::string> argv{path_, "--foreground", "--namespace", ns_, "--config", config_path_, "--log-level",
                                "info", support::kShmqdReadyFdFlag, std::to_string(ready_pipe[1])};
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    for (const int fd : {out[0], out[1], ready_pipe[0], ready_pipe[1]}) ::close(fd);
    throw Error(errc::system_error, "fork for shmqd failed");
  }
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the run
    if (::getppid() != parent) std::_Exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::fcntl(ready_pipe[1], F_SETFD, 0);  // shmqd inherits it
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  ::close(out[1]);
  ::close(ready_pipe[1]);  // EOF on ready_pipe[0] then means shmqd closed it or exited
  ::fcntl(out[0], F_SETFL, O_NONBLOCK);
  ::fcntl(ready_pipe[0], F_SETFL, O_NONBLOCK);
  out_fd_ = out[0];
  ready_fd_ = ready_pipe[0];
  pid_ = child;
  ready_ = false;
  ready_text_.clear();
  tail_.clear();
  std::fprintf(log_, "---- shmq-chaos: started shmqd, pid %d\n", static_cast<int>(child));
}

void DaemonProcess::read_output() {
  char buf[4096];
  for (;;) {
    if (out_fd_ < 0) break;
    const ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // EAGAIN: all read
    if (n == 0) {
      ::close(out_fd_);
      out_fd_ = -1;
      break;
    }
    std::fwrite(buf, 1, static_cast<std::size_t>(n), log_);
    tail_.append(buf, static_cast<std::size_t>(n));
    if (tail_.size() > kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
  }
  std::fflush(log_);
}

bool DaemonProcess::read_ready() {
  char buf[64];
  while (ready_fd_ >= 0) {
    const ssize_t n = ::read(ready_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // EAGAIN: all read
    if (n == 0) {  // shmqd closed it: after the ready line, or without one (its exit tells why)
      ::close(ready_fd_);
      ready_fd_ = -1;
      break;
    }
    ready_text_.append(buf, static_cast<std::size_t>(n));
    ready_ = support::parse_shmqd_ready(ready_text_) == pid_;
  }
  return ready_;
}

void DaemonProcess::exited() {
  read_output();
  if (out_fd_ >= 0) ::close(out_fd_);
  if (ready_fd_ >= 0) ::close(ready_fd_);
  out_fd_ = -1;
  ready_fd_ = -1;
  pid_ = -1;
  ready_ = false;
}

bool DaemonProcess::signal(int signo) const noexcept { return pid_ > 0 && ::kill(pid_, signo) == 0; }

}  // namespace shmq::chaos
