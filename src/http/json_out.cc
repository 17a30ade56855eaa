#include "http/json_out.h"

namespace tollgate {
namespace {

struct ThreadBuffer {
  rapidjson::StringBuffer buffer;
  bool busy = false;
};
thread_local ThreadBuffer thread_buffer;

// This thread's buffer, emptied (its memory kept); a private one when a JsonOut already holds it.
rapidjson::StringBuffer& Acquire(std::unique_ptr<rapidjson::StringBuffer>& own) {
  if (thread_buffer.busy) {
    own = std::make_unique<rapidjson::StringBuffer>();
    return *own;
  }
  thread_buffer.busy = true;
  thread_buffer.buffer.Clear();
  return thread_buffer.buffer;
}

}  // namespace

JsonOut::JsonOut() : buffer_(Acquire(own_)), writer_(buffer_) {}

JsonOut::~JsonOut() {
  if (!own_) thread_buffer.busy = false;
}

JsonOut& JsonOut::Strings(const std::vector<std::string>& values) {
  writer_.StartArray();
  for (const std::string& value : values) String(value);
  writer_.EndArray();
  return *this;
}

std::string JsonOut::Take() { return std::string(buffer_.GetString(), buffer_.GetSize()); }

}  // namespace tollgate
