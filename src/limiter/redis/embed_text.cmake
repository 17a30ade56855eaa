# Writes OUTPUT, a C++ source defining `const std::string_view tollgate::<SYMBOL>` that holds the
# text of INPUT byte for byte (a raw string literal). Run by tollgate_embed_text at build time:
#   cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DSYMBOL=<name> -P embed_text.cmake
foreach(var INPUT OUTPUT SYMBOL)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_text.cmake: -D${var}=... is required")
  endif()
endforeach()

file(READ ${INPUT} text)
set(delimiter "tollgate_embed")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "embed_text.cmake: ${INPUT} contains )${delimiter}\", which would end the literal")
endif()

file(WRITE ${OUTPUT} "// Generated from ${INPUT} by embed_text.cmake at build time; do not edit.
#include <string_view>

namespace tollgate {
extern const std::string_view ${SYMBOL};
const std::string_view ${SYMBOL} = R\"${delimiter}(${text})${delimiter}\";
}  // namespace tollgate
")
