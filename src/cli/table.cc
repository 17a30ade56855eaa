#include "cli/table.h"

#include <algorithm>
#include <cctype>

namespace tollgate {

namespace {

constexpr std::string_view kColumnGap = "  ";

void AppendPadded(std::string& line, const std::string& cell, std::size_t width) {
  line += cell;
  line.append(width - std::min(width, DisplayWidth(cell)), ' ');
}

}  // namespace

std::string StripControlCharacters(std::string_view text) {
  std::string clean(text);
  for (char& c : clean) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = '?';
  }
  return clean;
}

std::size_t DisplayWidth(const std::string& text) {
  // Every byte except UTF-8 continuation bytes (10xxxxxx) starts a code point.
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

bool LocaleIsUtf8(const char* lc_all, const char* lc_ctype, const char* lang) {
  for (const char* value : {lc_all, lc_ctype, lang}) {
    if (value == nullptr || *value == '\0') continue;
    std::string lower(value);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower.find("utf-8") != std::string::npos || lower.find("utf8") != std::string::npos;
  }
  return false;
}

std::string RenderTable(const TableRow& header, const std::vector<TableRow>& rows) {
  std::vector<TableRow> lines;
  lines.reserve(rows.size() + 1);
  lines.push_back(header);
  lines.insert(lines.end(), rows.begin(), rows.end());

  std::size_t columns = 0;
  for (const TableRow& line : lines) columns = std::max(columns, line.size());
  for (TableRow& line : lines) {
    line.resize(columns);
    for (std::string& cell : line) cell = StripControlCharacters(cell);
  }

  std::vector<std::size_t> widths(columns, 0);
  for (const TableRow& line : lines) {
    for (std::size_t i = 0; i < columns; ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(line[i]));
    }
  }

  std::string text;
  for (const TableRow& line : lines) {
    std::string rendered;
    for (std::size_t i = 0; i < columns; ++i) {
      if (i > 0) rendered += kColumnGap;
      AppendPadded(rendered, line[i], widths[i]);
    }
    // Trailing empty cells would otherwise leave spaces at the end of the line.
    rendered.erase(rendered.find_last_not_of(' ') + 1);
    text += rendered;
    text += '\n';
  }
  return text;
}

std::string RenderRecord(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t label_width = 0;
  for (const auto& [label, value] : fields) {
    label_width = std::max(label_width, DisplayWidth(label));
  }

  std::string text;
  for (const auto& [label, value] : fields) {
    const std::string clean_label = StripControlCharacters(label);
    // Split on '\n' before sanitising so multi-line values keep their lines, aligned.
    std::size_t start = 0;
    while (true) {
      const std::size_t end = value.find('\n', start);
      std::string line;
      AppendPadded(line, start == 0 ? clean_label : std::string(), label_width);
      line += kColumnGap;
      line += StripControlCharacters(
          std::string_view(value).substr(start, end == std::string::npos ? end : end - start));
      line.erase(line.find_last_not_of(' ') + 1);
      text += line;
      text += '\n';
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return text;
}

}  // namespace tollgate
