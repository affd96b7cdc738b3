#include "daemon_process.hpp"

#include <chrono>
#include <utility>

#include "shmq/error.hpp"

namespace shmq::chaos {

namespace {

constexpr std::size_t kTailBytes = 4096;

support::ShmqdOptions options(std::string shmqd_path, std::string ns, std::string config_path) {
  support::ShmqdOptions o;
  o.program = std::move(shmqd_path);
  o.ns = std::move(ns);
  o.config = std::move(config_path);
  o.log_level = "info";
  o.die_with_parent = true;  // never outlive the run
  return o;
}

}  // namespace

DaemonProcess::DaemonProcess(std::string shmqd_path, std::string ns, std::string config_path,
                             const std::string& log_path)
    : launcher_(options(std::move(shmqd_path), std::move(ns), std::move(config_path))),
      log_(std::fopen(log_path.c_str(), "w")) {  // NOLINT(cppcoreguidelines-owning-memory): closed in ~DaemonProcess
  if (log_ == nullptr) throw Error(errc::system_error, "cannot write the shmqd log " + log_path);
}

DaemonProcess::~DaemonProcess() {
  if (log_ != nullptr) std::fclose(log_);  // NOLINT(cppcoreguidelines-owning-memory): the file opened in the constructor
}

void DaemonProcess::start() {
  launcher_.start();
  tail_.clear();
  std::fprintf(log_, "---- shmq-chaos: started shmqd, pid %d\n", static_cast<int>(launcher_.pid()));
}

void DaemonProcess::read_output() {
  std::string chunk;
  while (launcher_.read_output(chunk, std::chrono::milliseconds::zero())) {
  }
  std::fwrite(chunk.data(), 1, chunk.size(), log_);
  std::fflush(log_);
  tail_ += chunk;
  if (tail_.size() > kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
}

void DaemonProcess::exited() {
  read_output();
  launcher_.reaped();
}

}  // namespace shmq::chaos
