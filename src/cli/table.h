// Plain-text layouts for terminal output: a column-aligned table for lists and a two-column
// "label  value" record for one resource. Pure functions of their input, so they are tested
// without a terminal.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate {

using TableRow = std::vector<std::string>;

// One line per row, header first, columns separated by two spaces and padded to the widest
// cell; the last column is not padded, so no line ends in spaces. A row with fewer cells than
// the header gets empty ones; one with more adds columns without a heading. Widths count UTF-8 code points, not bytes, so names outside
// ASCII stay aligned (wide CJK glyphs and emoji will not, a cost accepted to avoid a Unicode
// width table). Control characters in cells are shown as '?': cells hold user-supplied names,
// and a raw ESC or newline would let one rewrite the reader's terminal or break the layout.
std::string RenderTable(const TableRow& header, const std::vector<TableRow>& rows);

// "Label    value" lines, labels padded to the longest one; the same sanitising as RenderTable.
// A value with several lines (e.g. a list of permissions) continues under the value column.
std::string RenderRecord(const std::vector<std::pair<std::string, std::string>>& fields);

// text with ASCII control characters (C0 and DEL) replaced by '?', for printing strings a server
// or user supplied. C1 controls are multi-byte in UTF-8 and not interpreted by UTF-8 terminals.
std::string StripControlCharacters(std::string_view text);

// Visible width of text as RenderTable counts it: its number of UTF-8 code points.
std::size_t DisplayWidth(const std::string& text);

// Whether the locale that the POSIX variables select uses UTF-8: the first of LC_ALL, LC_CTYPE
// and LANG that is set and not empty names "UTF-8" or "utf8" (any case), e.g. "en_US.UTF-8",
// "C.utf8". Unset everywhere means the "C" locale: ASCII. Arguments may be null.
bool LocaleIsUtf8(const char* lc_all, const char* lc_ctype, const char* lang);

}  // namespace tollgate
