// The outbox's bookkeeping: tokens, confirmations in any order, and the delivered watermark
// (every entry at or before it has had all its messages confirmed).
#include <gtest/gtest.h>

#include "engine/outbox.h"

namespace {

using wire::Message;
using engine::Outbox;

Message message(const std::string& key) {
  Message m;
  m.topic = "t";
  m.key = key;
  return m;
}

TEST(Outbox, TheWatermarkStaysBelowTheOldestEntryWithAMessageInFlight) {
  Outbox o;
  o.committed(3);
  EXPECT_EQ(o.watermark(), 3);
  auto a = o.add(4, message("a"));
  auto b = o.add(4, message("b"));
  auto c = o.add(5, message("c"));
  o.committed(5);
  EXPECT_EQ(o.in_flight(), 3u);
  EXPECT_EQ(o.watermark(), 3);
  ASSERT_NE(o.find(b), nullptr);
  EXPECT_EQ(o.find(b)->key, "b");
  // Confirmed out of order: entry 4 still has "a" in flight.
  EXPECT_TRUE(o.confirm(b));
  EXPECT_TRUE(o.confirm(c));
  EXPECT_EQ(o.find(c), nullptr);
  EXPECT_EQ(o.watermark(), 3);
  EXPECT_FALSE(o.confirm(c)) << "a second confirmation is not one";
  EXPECT_TRUE(o.confirm(a));
  EXPECT_EQ(o.in_flight(), 0u);
  EXPECT_EQ(o.watermark(), 5);
  EXPECT_FALSE(o.confirm(a + 100)) << "a token never given";
  EXPECT_EQ(o.find(0), nullptr);
}

TEST(Outbox, TokensStayValidAcrossConfirmationsOfOthers) {
  Outbox o;
  std::vector<std::int64_t> tokens;
  for (int i = 0; i < 100; ++i) tokens.push_back(o.add(10 + i, message(std::to_string(i))));
  for (int i = 0; i < 100; i += 2) EXPECT_TRUE(o.confirm(tokens[static_cast<std::size_t>(i)]));
  o.committed(109);
  for (int i = 1; i < 100; i += 2) {
    ASSERT_NE(o.find(tokens[static_cast<std::size_t>(i)]), nullptr);
    EXPECT_EQ(o.find(tokens[static_cast<std::size_t>(i)])->key, std::to_string(i));
  }
  EXPECT_EQ(o.watermark(), 10);  // entry 11's message is the oldest in flight
  EXPECT_EQ(o.add(200, message("late")), tokens.back() + 1) << "tokens keep increasing";
}

TEST(Outbox, AMessageAddedForAnEarlierEntryStillHoldsTheWatermark) {
  Outbox o;
  auto newer = o.add(8, message("newer"));
  o.add(6, message("older"));
  o.committed(8);
  EXPECT_TRUE(o.confirm(newer));
  EXPECT_EQ(o.watermark(), 5);
}

}  // namespace
