// The control protocol: any packet decodes to a request (or a reply) or is
// refused with shmq::Error; whatever decodes survives encode -> decode unchanged.
#include <string>
#include <string_view>

#include "shmq/admin/control.hpp"
#include "shmq/error.hpp"
#include "targets.hpp"

using shmq::admin::decode_reply;
using shmq::admin::decode_request;
using shmq::admin::encode_reply;
using shmq::admin::encode_request;

int shmq_fuzz_control(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const std::string once = encode_request(decode_request(text));
    if (encode_request(decode_request(once)) != once)
      shmq::fuzz::broken("control", "a request changes on encode -> decode: " + once);
  } catch (const shmq::Error&) {
  }
  try {
    const std::string once = encode_reply(decode_reply(text));
    if (encode_reply(decode_reply(once)) != once)
      shmq::fuzz::broken("control", "a reply changes on encode -> decode: " + once);
  } catch (const shmq::Error&) {
  }
  return 0;
}
