#include "common/ids.h"

#include "common/base58.h"
#include "common/crypto.h"

namespace tollgate {

std::string NewId(std::string_view prefix) {
  const auto bytes = RandomBytes(16);
  std::string id(prefix);
  id.push_back('_');
  id += Base58Encode(bytes);
  return id;
}

}  // namespace tollgate
