// Unit tests of shmq's error category (shmq/error.hpp): every errc has its own
// message, Error carries code and message, and every Status has a name.
#include <set>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

#include "os_fixture.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {
namespace {

using os_tests::contains;

TEST(ErrorTest, CategoryNamesEveryCode) {
  EXPECT_STREQ(error_category().name(), "shmq");
  std::set<std::string> seen;
  for (int v = static_cast<int>(errc::invalid_argument); v <= static_cast<int>(errc::system_error);
       ++v) {
    const std::string msg = error_category().message(v);
    EXPECT_FALSE(msg.empty());
    EXPECT_FALSE(contains(msg, "unknown")) << v;
    EXPECT_TRUE(seen.insert(msg).second) << "duplicate message " << msg;
  }
  EXPECT_TRUE(contains(error_category().message(999), "999"));
}

TEST(ErrorTest, ErrorCarriesCodeAndMessage) {
  const Error e(errc::no_space, "needs 10 bytes");
  EXPECT_EQ(e.value(), errc::no_space);
  EXPECT_EQ(e.code(), make_error_code(errc::no_space));
  EXPECT_EQ(&e.code().category(), &error_category());
  EXPECT_TRUE(contains(e.what(), "needs 10 bytes"));
  const std::error_code ec = errc::timeout;  // is_error_code_enum
  EXPECT_EQ(ec.value(), static_cast<int>(errc::timeout));
}

TEST(ErrorTest, StatusNames) {
  EXPECT_STREQ(to_string(Status::Ok), "Ok");
  EXPECT_STREQ(to_string(Status::QueueFull), "QueueFull");
  EXPECT_STREQ(to_string(Status::Empty), "Empty");
  EXPECT_STREQ(to_string(Status::Timeout), "Timeout");
  EXPECT_STREQ(to_string(Status::MessageTooLarge), "MessageTooLarge");
  EXPECT_STREQ(to_string(Status::LeaseLost), "LeaseLost");
  EXPECT_STREQ(to_string(Status::Fenced), "Fenced");
  EXPECT_STREQ(to_string(Status::InvalidHandle), "InvalidHandle");
}

}  // namespace
}  // namespace shmq::detail
