// Streaming JSON output for the hot answers (keys.verifyKey, keys.authorize, ratelimit.limit).
//
// nlohmann::json builds a tree of std::map nodes and then walks it to print: for the verify
// answer that was ~50k instructions and ~60 allocations, half of what a whole verification cost
// (callgrind, bench/README). RapidJSON's Writer prints straight into a buffer that each thread
// keeps and reuses, so an answer costs one allocation (the body string) and a few thousand
// instructions. Every other route keeps nlohmann: clearer, and not on the hot path.
//
// Strings are written as they are (no UTF-8 validation): what reaches an answer was validated
// when it was stored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// SSE2 (every x86-64 has it) lets the writer copy runs of plain characters 16 at a time instead
// of looking each one up in its escape table.
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tollgate {

class JsonOut {
 public:
  using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

  // Starts a new document in this thread's buffer (a private one if another JsonOut of this
  // thread is still alive, so nesting is safe, only slower).
  JsonOut();
  ~JsonOut();
  JsonOut(const JsonOut&) = delete;
  JsonOut& operator=(const JsonOut&) = delete;

  JsonOut& StartObject() { writer_.StartObject(); return *this; }
  JsonOut& EndObject() { writer_.EndObject(); return *this; }
  JsonOut& StartArray() { writer_.StartArray(); return *this; }
  JsonOut& EndArray() { writer_.EndArray(); return *this; }
  JsonOut& Key(std::string_view name) {
    writer_.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    return *this;
  }
  JsonOut& String(std::string_view value) {
    writer_.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    return *this;
  }
  JsonOut& Int(std::int64_t value) { writer_.Int64(value); return *this; }
  JsonOut& Bool(bool value) { writer_.Bool(value); return *this; }
  JsonOut& Null() { writer_.Null(); return *this; }
  // A value that is already JSON text (stored meta), copied as is.
  JsonOut& Raw(std::string_view json) {
    writer_.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    return *this;
  }
  JsonOut& Strings(const std::vector<std::string>& values);

  // Key-value shorthands.
  JsonOut& Field(std::string_view name, std::string_view value) { return Key(name).String(value); }
  JsonOut& Field(std::string_view name, const char* value) { return Key(name).String(value); }
  JsonOut& Field(std::string_view name, const std::string& value) { return Key(name).String(value); }
  JsonOut& Field(std::string_view name, std::int64_t value) { return Key(name).Int(value); }
  JsonOut& Field(std::string_view name, bool value) { return Key(name).Bool(value); }

  // The document, complete; the buffer is kept for the thread's next one.
  std::string Take();

 private:
  std::unique_ptr<rapidjson::StringBuffer> own_;  // set only when the thread's buffer was taken
  rapidjson::StringBuffer& buffer_;
  Writer writer_;
};

}  // namespace tollgate
