# Writes OUT: a C++ file holding the dashboard's web files (FILES, each served as /NAME) as
# strings, so the controller serves them from its binary and never from disk.
set(body "")
foreach(f ${FILES})
  get_filename_component(name "${f}" NAME)
  get_filename_component(ext "${f}" LAST_EXT)
  if(ext STREQUAL ".html")
    set(type "text/html; charset=utf-8")
  elseif(ext STREQUAL ".js")
    set(type "text/javascript; charset=utf-8")
  elseif(ext STREQUAL ".css")
    set(type "text/css; charset=utf-8")
  else()
    message(FATAL_ERROR "dashboard: no content type for ${f}")
  endif()
  file(READ "${f}" content)
  string(FIND "${content}" ")kfweb\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "dashboard: ${f} contains the raw-string delimiter )kfweb\"")
  endif()
  string(APPEND body "    {\"/${name}\", \"${type}\", R\"kfweb(${content})kfweb\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from controller/dashboard/web/ by embed_assets.cmake. Do not edit.
#include \"controller/dashboard/assets.h\"

namespace keyfleet::controller::dashboard {

absl::Span<const Asset> EmbeddedAssets() {
  static const Asset kAssets[] = {
${body}  };
  return kAssets;
}

}  // namespace keyfleet::controller::dashboard
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
