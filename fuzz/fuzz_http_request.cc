// The HTTP request path after the transport: an input is one request in the text form of
// fuzz_world.h (method and target, optional headers, body), answered by the real Router with
// every route registered; the answer must pass FuzzWorld::Check. The corpus has a valid body for
// every route, so mutations reach each route's JSON decoding (FieldReader) and the services
// behind it, and a few malformed requests.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_world.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tollgate::fuzz::FuzzWorld::Get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& world = tollgate::fuzz::FuzzWorld::Get();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const tollgate::HttpRequest request = tollgate::fuzz::ParseTextRequest(world.Expand(text));
  const tollgate::HttpResponse response = world.Handle(request);
  world.Check(request, response);
  world.AfterRequest();
  return 0;
}
