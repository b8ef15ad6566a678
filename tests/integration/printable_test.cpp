// Text from participants and the network, printed in logs and tables (cli/printable.h).
#include <gtest/gtest.h>

#include "cli/printable.h"

namespace {

TEST(Printable, ControlCharactersAreShownAsEscapes) {
  EXPECT_EQ(cli::printable("card declined"), "card declined");
  EXPECT_EQ(cli::printable("a\nb\rc\x1b[2Jd\x7f\te"), "a\\nb\\rc\\x1b[2Jd\\x7f\te");
  EXPECT_EQ(cli::printable(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(cli::printable("caf\xc3\xa9"), "caf\xc3\xa9") << "UTF-8 text is text";
}

TEST(Printable, ALogMessageOfSeveralLinesStaysOneRecord) {
  // A forged line cannot start at the beginning of a line: it is indented under its record.
  EXPECT_EQ(cli::printable("declined\n[2026-01-01 00:00:00.000] [sagactl] [info] all good", true),
            "declined\n    [2026-01-01 00:00:00.000] [sagactl] [info] all good");
}

}  // namespace
