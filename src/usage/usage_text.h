// UsageText: the string type of a usage event's text fields. Up to 39 bytes live inside the
// object (40 bytes, like a std::string's 32 plus one word), so an event built from tollgate's ids
// ("key_" / "api_" + 22 base58 characters = 26 bytes), a code name and a typical external id (a
// UUID is 36 bytes) allocates nothing. Longer texts take one heap allocation, as std::string would.
//
// Why not std::string: tollgate's ids are longer than std::string's 15 inline bytes, so each
// would be an allocation per event; and the recorder holds up to max_buffered (1M) events in
// memory while the store is down, where 40 inline bytes cost less than 32 plus a heap block.
//
// It reads like a std::string_view (implicit conversion, ==, <=>, <<, data/size/empty) and is
// assigned from anything that converts to one. It is not NUL-terminated.
#pragma once

#include <compare>
#include <cstddef>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>

namespace tollgate {

class UsageText {
 public:
  static constexpr std::size_t kInlineCapacity = 39;

  UsageText() noexcept = default;
  template <typename Text>
    requires(std::is_convertible_v<const Text&, std::string_view> && !std::is_same_v<Text, UsageText>)
  UsageText(const Text& text) {  // NOLINT(google-explicit-constructor): fields read like strings
    Assign(std::string_view(text));
  }
  UsageText(const UsageText& other) { Assign(other.view()); }
  // Moving copies the 40 bytes: a heap text changes owner, an inline one is copied as it is.
  UsageText(UsageText&& other) noexcept {
    std::memcpy(bytes_, other.bytes_, sizeof bytes_);
    other.bytes_[kTagAt] = 0;
  }
  UsageText& operator=(const UsageText& other) {
    if (this != &other) *this = other.view();
    return *this;
  }
  UsageText& operator=(UsageText&& other) noexcept {
    if (this != &other) {
      Release();
      std::memcpy(bytes_, other.bytes_, sizeof bytes_);
      other.bytes_[kTagAt] = 0;
    }
    return *this;
  }
  template <typename Text>
    requires(std::is_convertible_v<const Text&, std::string_view> && !std::is_same_v<Text, UsageText>)
  UsageText& operator=(const Text& text) {
    return *this = UsageText(text);  // built first: `text` may be a part of this very text
  }
  ~UsageText() { Release(); }

  std::string_view view() const noexcept {
    return OnHeap() ? std::string_view(HeapData(), HeapSize()) : std::string_view(bytes_, InlineSize());
  }
  operator std::string_view() const noexcept { return view(); }  // NOLINT(google-explicit-constructor)
  std::string str() const { return std::string(view()); }
  const char* data() const noexcept { return OnHeap() ? HeapData() : bytes_; }
  std::size_t size() const noexcept { return OnHeap() ? HeapSize() : InlineSize(); }
  bool empty() const noexcept { return size() == 0; }

  // Templates, so that text == text, text == "literal" and std::string == text each have one best match.
  template <typename Text>
    requires std::is_convertible_v<const Text&, std::string_view>
  friend bool operator==(const UsageText& a, const Text& b) noexcept {
    return a.view() == std::string_view(b);
  }
  template <typename Text>
    requires std::is_convertible_v<const Text&, std::string_view>
  friend std::strong_ordering operator<=>(const UsageText& a, const Text& b) noexcept {
    return a.view() <=> std::string_view(b);
  }
  friend std::ostream& operator<<(std::ostream& out, const UsageText& text) { return out << text.view(); }

 private:
  // bytes_[kTagAt] holds the inline size (0..39), or kOnHeap; then bytes_[0, 8) holds the heap
  // pointer and bytes_[8, 16) the size (read and written with memcpy, so no aliasing tricks).
  static constexpr std::size_t kTagAt = kInlineCapacity;
  static constexpr unsigned char kOnHeap = 0xFF;

  bool OnHeap() const noexcept { return static_cast<unsigned char>(bytes_[kTagAt]) == kOnHeap; }
  std::size_t InlineSize() const noexcept { return static_cast<unsigned char>(bytes_[kTagAt]); }
  char* HeapData() const noexcept {
    char* data = nullptr;
    std::memcpy(&data, bytes_, sizeof data);
    return data;
  }
  std::size_t HeapSize() const noexcept {
    std::size_t size = 0;
    std::memcpy(&size, bytes_ + sizeof(char*), sizeof size);
    return size;
  }
  // Expects no heap text (after construction or Release()).
  void Assign(std::string_view text) {
    if (text.size() <= kInlineCapacity) {
      if (!text.empty()) std::memcpy(bytes_, text.data(), text.size());
      bytes_[kTagAt] = static_cast<char>(text.size());
      return;
    }
    char* data = new char[text.size()];
    std::memcpy(data, text.data(), text.size());
    const std::size_t size = text.size();
    std::memcpy(bytes_, &data, sizeof data);
    std::memcpy(bytes_ + sizeof data, &size, sizeof size);
    bytes_[kTagAt] = static_cast<char>(kOnHeap);
  }
  void Release() noexcept {
    if (OnHeap()) delete[] HeapData();
    bytes_[kTagAt] = 0;
  }

  alignas(8) char bytes_[kInlineCapacity + 1] = {};
};
static_assert(sizeof(UsageText) == 40);

}  // namespace tollgate
