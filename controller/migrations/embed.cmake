# Writes OUT: a C++ file holding every controller/migrations/NNNN_name.sql as a string, in order.
file(GLOB sql_files "${SRC_DIR}/[0-9][0-9][0-9][0-9]_*.sql")
list(SORT sql_files)
set(body "")
foreach(f ${sql_files})
  get_filename_component(name "${f}" NAME_WE)
  string(SUBSTRING "${name}" 0 4 version)
  math(EXPR version "${version}")
  file(READ "${f}" sql)
  string(APPEND body "    {${version}, \"${name}\", R\"kfsql(${sql})kfsql\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from controller/migrations/*.sql by embed.cmake. Do not edit.
#include \"controller/store/migrations.h\"

namespace keyfleet::controller {

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration> kMigrations = {
${body}  };
  return kMigrations;
}

}  // namespace keyfleet::controller
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
