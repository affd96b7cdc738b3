// A user's first program, built against an installed shmq: one queue, one
// message through it and back. Usage: shmq_consumer NAMESPACE (the caller
// removes /dev/shm/shmq.NAMESPACE.* afterwards). Exit 0 when the message came
// back intact, 1 (with one line on stderr) otherwise.
#include <cstdio>
#include <exception>
#include <string>

#include <shmq/shmq.hpp>

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc != 2) {
    std::fprintf(stderr, "usage: shmq_consumer NAMESPACE\n");
    return 2;
  }
  try {
    shmq::Client client({.ns = argv[1]});
    client.create_queue("hello", {.capacity = 8, .slot_size = 64});
    shmq::Producer producer = client.producer("hello");
    shmq::Consumer consumer = client.consumer("hello");
    if (producer.send("hello from an installed shmq", 10s) != shmq::Status::Ok) {
      std::fprintf(stderr, "shmq_consumer: send failed\n");
      return 1;
    }
    shmq::Message m = consumer.receive(10s);
    if (!m || m.text() != "hello from an installed shmq" || m.ack() != shmq::Status::Ok) {
      std::fprintf(stderr, "shmq_consumer: the message did not come back intact\n");
      return 1;
    }
    client.delete_queue("hello");
    std::printf("shmq_consumer: ok\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmq_consumer: %s\n", e.what());
    return 1;
  }
}
