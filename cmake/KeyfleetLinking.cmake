# How keyfleet's binaries link their third-party libraries.
#
# keyfleet-agent runs on every server, so DESIGN.md caps its idle memory (RSS <= 10 MiB). Linked
# against Debian's shared gRPC, protobuf, abseil (40 libraries) and OpenSSL, the dynamic loader
# alone keeps ~4 MiB of symbol tables and relocations resident and dirties ~1 MiB of relocated
# data, before any of that code runs. With KEYFLEET_STATIC_AGENT (on by default) the agent links
# those libraries from their static archives into a non-PIE executable instead; glibc stays shared
# (its NSS and resolver need it). Everything else (controller, CLI, tests, benches) links the
# shared libraries as before. The cost: a security update to one of those libraries reaches the
# agent only when it is rebuilt, as with any statically linked agent.

# spdlog and fmt as header-only libraries everywhere: Debian ships neither as a static archive,
# and one binary must not mix the two ways of building spdlog.
add_library(keyfleet_logging INTERFACE)
target_compile_definitions(keyfleet_logging INTERFACE SPDLOG_FMT_EXTERNAL)
target_link_libraries(keyfleet_logging INTERFACE fmt::fmt-header-only Threads::Threads)

# keyfleet_link_shared(TARGET SCOPE DEPENDENCY...) links the imported shared-library targets
# DEPENDENCY... into TARGET, except into a binary whose KEYFLEET_STATIC_DEPS property is true:
# such a binary links the static archives of keyfleet_static_deps instead. ($<TARGET_PROPERTY:P>
# in a link interface is evaluated on the binary being linked.)
function(keyfleet_link_shared target scope)
  foreach(dependency IN LISTS ARGN)
    target_link_libraries(${target} ${scope}
      "$<$<NOT:$<BOOL:$<TARGET_PROPERTY:KEYFLEET_STATIC_DEPS>>>:${dependency}>")
  endforeach()
endfunction()

if(KEYFLEET_STATIC_AGENT)
  # pkg-config --static knows each library's own dependencies and their order.
  pkg_check_modules(KEYFLEET_STATIC_PC REQUIRED grpc++ protobuf openssl yaml-cpp absl_status
    absl_statusor absl_strings absl_str_format absl_time absl_synchronization)
  # glibc's and the compiler's libraries stay shared.
  set(shared_system_libraries c m dl rt pthread atomic)
  set(archives)
  foreach(name IN LISTS KEYFLEET_STATIC_PC_STATIC_LIBRARIES)
    if(name IN_LIST shared_system_libraries OR "${name}" STREQUAL "")
      continue()
    endif()
    string(MAKE_C_IDENTIFIER "KEYFLEET_ARCHIVE_${name}" variable)
    find_library(${variable} NAMES lib${name}.a
      HINTS ${KEYFLEET_STATIC_PC_STATIC_LIBRARY_DIRS} NO_CACHE)
    if(NOT ${variable})
      message(FATAL_ERROR "KEYFLEET_STATIC_AGENT: no static archive lib${name}.a for ${name} "
        "(needed by: grpc++ protobuf openssl yaml-cpp absl). Install its -dev package or "
        "configure with -DKEYFLEET_STATIC_AGENT=OFF to link keyfleet-agent against shared libraries.")
    endif()
    list(APPEND archives ${${variable}})
  endforeach()
  list(REMOVE_DUPLICATES archives)
  add_library(keyfleet_static_deps INTERFACE)
  # The archives depend on each other in cycles (gRPC <-> abseil), so the linker rescans them.
  target_link_libraries(keyfleet_static_deps INTERFACE "$<LINK_GROUP:RESCAN,${archives}>"
    Threads::Threads ${CMAKE_DL_LIBS} m rt atomic)
  target_link_options(keyfleet_static_deps INTERFACE -no-pie -static-libstdc++ -static-libgcc
    LINKER:--gc-sections LINKER:--as-needed)
endif()

# keyfleet_static_binary(TARGET ORDER_FILE): links TARGET as described at the top of this file.
# With lld, the functions listed in ORDER_FILE (those the binary runs until idle; see
# tests/bench/agent_symbol_order.sh) are placed first and together: the kernel maps executable
# pages in 64 KiB fault-around blocks, so code that runs, scattered among code that never does,
# keeps several times its size resident (measured: 9.8 -> 7.9 MiB idle RSS for the agent).
function(keyfleet_static_binary target order_file)
  set_target_properties(${target} PROPERTIES KEYFLEET_STATIC_DEPS ON POSITION_INDEPENDENT_CODE OFF)
  target_link_libraries(${target} PRIVATE keyfleet_static_deps)
  find_program(KEYFLEET_LLD ld.lld)
  if(KEYFLEET_LLD)
    target_link_options(${target} PRIVATE -fuse-ld=lld
      LINKER:--symbol-ordering-file=${order_file} LINKER:--no-warn-symbol-ordering)
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${order_file})
  else()
    message(WARNING "ld.lld not found: ${target} is linked without its symbol order and keeps "
      "more code resident (install lld; deploy/install-deps.sh does).")
  endif()
endfunction()
