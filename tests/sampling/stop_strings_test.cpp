// Stop strings across token boundaries.
#include <gtest/gtest.h>

#include "sampling/stop_strings.h"

namespace selattn::test {
namespace {

TEST(StopStrings, HoldsBackPossiblePrefixesAndCutsAtTheStop) {
  StopStrings s({"\n\n", "END"});
  EXPECT_EQ(s.push("Hello"), "Hello");
  EXPECT_EQ(s.push(" E"), " ");  // "E" could start END
  EXPECT_EQ(s.push("N"), "");
  EXPECT_EQ(s.push("D!"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.push("more"), "");
}

TEST(StopStrings, FalseAlarmsAreReleased) {
  StopStrings s({"END"});
  EXPECT_EQ(s.push("EN"), "");
  EXPECT_EQ(s.push("x"), "ENx");
  EXPECT_EQ(s.push("E"), "");
  EXPECT_FALSE(s.stopped());
  EXPECT_EQ(s.flush(), "E");
}

TEST(StopStrings, StopInsideOnePiece) {
  StopStrings s({"\n\n"});
  EXPECT_EQ(s.push("a\n\nb"), "a");
  EXPECT_TRUE(s.stopped());
  StopStrings none({});
  EXPECT_EQ(none.push("anything"), "anything");
}

}  // namespace
}  // namespace selattn::test
