#include "cli/table.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(RenderTable, AlignsColumnsToTheWidestCell) {
  EXPECT_EQ(RenderTable({"ID", "NAME"}, {{"key_1", "a"}, {"k2", "longer name"}}),
            "ID     NAME\n"
            "key_1  a\n"
            "k2     longer name\n");
}

TEST(RenderTable, PrintsTheHeaderAloneForNoRows) {
  EXPECT_EQ(RenderTable({"ID", "NAME"}, {}), "ID  NAME\n");
}

TEST(RenderTable, LeavesNoTrailingSpaces) {
  const std::string table = RenderTable({"A", "B", "C"}, {{"x", "", ""}, {"long", "y"}});
  EXPECT_EQ(table,
            "A     B  C\n"
            "x\n"
            "long  y\n");
}

TEST(RenderTable, PadsShortRowsAndWidensForLongOnes) {
  EXPECT_EQ(RenderTable({"A", "B"}, {{"1"}, {"1", "2", "3"}}),
            "A  B\n"
            "1\n"
            "1  2  3\n");
}

TEST(RenderTable, CountsCodePointsNotBytes) {
  // "café" is 5 bytes and 4 columns wide; "ü" is 2 bytes and 1 column wide.
  EXPECT_EQ(RenderTable({"NAME", "X"}, {{"café", "1"}, {"ü", "2"}}),
            "NAME  X\n"
            "café  1\n"
            "ü     2\n");
}

TEST(RenderTable, NeutralisesControlCharacters) {
  // An escape sequence in a key name must not reach the terminal; a newline must not add a row.
  EXPECT_EQ(RenderTable({"NAME"}, {{"evil\x1b[2J\nrow"}}),
            "NAME\n"
            "evil?[2J?row\n");
}

TEST(RenderRecord, AlignsValuesAfterTheLongestLabel) {
  EXPECT_EQ(RenderRecord({{"Key ID", "key_1"}, {"Name", "n"}}),
            "Key ID  key_1\n"
            "Name    n\n");
}

TEST(RenderRecord, ContinuesMultiLineValuesUnderTheValueColumn) {
  EXPECT_EQ(RenderRecord({{"Roles", "admin\nreader"}, {"Name", ""}}),
            "Roles  admin\n"
            "       reader\n"
            "Name\n");
}

TEST(RenderRecord, NeutralisesControlCharactersWithinALine) {
  EXPECT_EQ(RenderRecord({{"Name", "a\tb\x7f"}}), "Name  a?b?\n");
}

TEST(DisplayWidth, CountsUtf8CodePoints) {
  EXPECT_EQ(DisplayWidth(""), 0u);
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("naïve"), 5u);
  EXPECT_EQ(DisplayWidth("€"), 1u);
}

TEST(StripControlCharacters, KeepsPrintableTextAndUtf8) {
  EXPECT_EQ(StripControlCharacters("plain ü €"), "plain ü €");
  EXPECT_EQ(StripControlCharacters(std::string("a\0b\r\n", 5)), "a?b??");
}

TEST(LocaleIsUtf8, TheFirstVariableThatIsSetDecides) {
  EXPECT_TRUE(LocaleIsUtf8(nullptr, nullptr, "en_US.UTF-8"));
  EXPECT_TRUE(LocaleIsUtf8(nullptr, nullptr, "C.utf8"));
  EXPECT_TRUE(LocaleIsUtf8("", "de_DE.Utf-8", "C"));
  // LC_ALL overrides LC_CTYPE, which overrides LANG.
  EXPECT_FALSE(LocaleIsUtf8("C", "en_US.UTF-8", "en_US.UTF-8"));
  EXPECT_FALSE(LocaleIsUtf8(nullptr, "POSIX", "en_US.UTF-8"));
  EXPECT_FALSE(LocaleIsUtf8(nullptr, nullptr, "en_US.ISO-8859-1"));
  // Nothing set is the C locale.
  EXPECT_FALSE(LocaleIsUtf8(nullptr, nullptr, nullptr));
  EXPECT_FALSE(LocaleIsUtf8("", "", ""));
}

}  // namespace
}  // namespace tollgate
