// InFlightOffsets: what the Kafka transport may commit as the engine acknowledges messages.
#include "kafka/in_flight.h"

#include <gtest/gtest.h>

#include <vector>

namespace {
using kafka::InFlightOffsets;

struct Committed {
  std::string topic;
  std::int32_t partition;
  std::int64_t next_offset;
  bool operator==(const Committed&) const = default;
};

std::vector<Committed> ack(InFlightOffsets& f, std::vector<std::uint64_t> tokens) {
  std::vector<InFlightOffsets::Advance> out;
  f.acknowledge(tokens, out);
  std::vector<Committed> got;
  for (const auto& a : out) got.push_back({std::string(a.topic), a.partition, a.next_offset});
  return got;
}

TEST(InFlightOffsets, APartitionAdvancesPastItsOldestAcknowledgedMessagesOnly) {
  InFlightOffsets f;
  auto t10 = f.received("replies", 0, 10);
  auto t11 = f.received("replies", 0, 11);
  auto t12 = f.received("replies", 0, 12);
  EXPECT_TRUE(ack(f, {t11}).empty()) << "offset 10 is not acknowledged: nothing may be committed";
  EXPECT_EQ(ack(f, {t10}), (std::vector<Committed>{{"replies", 0, 12}}));
  EXPECT_EQ(f.size(), 1u);
  EXPECT_EQ(ack(f, {t12}), (std::vector<Committed>{{"replies", 0, 13}}));
  EXPECT_EQ(f.size(), 0u);
}

TEST(InFlightOffsets, PartitionsAdvanceEachOnItsOwn) {
  InFlightOffsets f;
  auto a = f.received("replies", 0, 5);
  auto b = f.received("replies", 1, 7);
  auto c = f.received("starts", 0, 1);
  auto got = ack(f, {c, a, b});
  EXPECT_EQ(got, (std::vector<Committed>{{"starts", 0, 2}, {"replies", 0, 6}, {"replies", 1, 8}}));
}

TEST(InFlightOffsets, UnknownRepeatedAndForgottenTokensAcknowledgeNothing) {
  InFlightOffsets f;
  auto a = f.received("replies", 0, 1);
  auto b = f.received("replies", 1, 1);
  EXPECT_TRUE(ack(f, {0, 99}).empty());
  EXPECT_EQ(ack(f, {a}).size(), 1u);
  EXPECT_TRUE(ack(f, {a}).empty()) << "a token acknowledges once";
  f.forget({{"replies", 1}});
  EXPECT_TRUE(ack(f, {b}).empty()) << "a revoked partition's messages are its next owner's";
  EXPECT_EQ(f.size(), 0u);
  // Read again after the partition comes back: a new token, counted from where it stands.
  auto again = f.received("replies", 1, 1);
  EXPECT_NE(again, b);
  EXPECT_EQ(ack(f, {again}), (std::vector<Committed>{{"replies", 1, 2}}));
}

TEST(InFlightOffsets, AMessageReadAgainIsOneEntryAndTheEarlierOffsetsStillHoldTheLine) {
  InFlightOffsets f;
  auto t5 = f.received("replies", 0, 5);
  auto t6 = f.received("replies", 0, 6);
  auto t5_again = f.received("replies", 0, 5);  // a seek back: offset 5 delivered twice
  EXPECT_EQ(f.size(), 2u);
  EXPECT_TRUE(ack(f, {t6}).empty());
  EXPECT_EQ(ack(f, {t5_again}), (std::vector<Committed>{{"replies", 0, 7}}));
  EXPECT_TRUE(ack(f, {t5}).empty());
}

TEST(InFlightOffsets, TokensAcknowledgedOutOfOrderAreAllFound) {
  InFlightOffsets f;
  std::vector<std::uint64_t> tokens;
  for (int i = 0; i < 1000; ++i) tokens.push_back(f.received("replies", 0, i));
  std::vector<std::uint64_t> odd, even;
  for (std::size_t i = 0; i < tokens.size(); ++i) (i % 2 ? odd : even).push_back(tokens[i]);
  EXPECT_TRUE(ack(f, odd).empty());
  EXPECT_EQ(ack(f, even), (std::vector<Committed>{{"replies", 0, 1000}}));
  EXPECT_EQ(f.size(), 0u);
}

}  // namespace
