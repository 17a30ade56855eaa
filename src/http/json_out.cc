#include "http/json_out.h"

namespace tollgate {
namespace {

rapidjson::StringBuffer& ThreadBuffer() {
  thread_local rapidjson::StringBuffer buffer;
  buffer.Clear();  // keeps its memory
  return buffer;
}

}  // namespace

JsonOut::JsonOut() : buffer_(ThreadBuffer()), writer_(buffer_) {}

JsonOut& JsonOut::Strings(const std::vector<std::string>& values) {
  writer_.StartArray();
  for (const std::string& value : values) String(value);
  writer_.EndArray();
  return *this;
}

std::string JsonOut::Take() { return std::string(buffer_.GetString(), buffer_.GetSize()); }

}  // namespace tollgate
