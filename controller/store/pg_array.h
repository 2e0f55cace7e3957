// PostgreSQL array literals for statement parameters ("{"a","b\"c"}"), so a batch of rows goes
// to the server as one statement with unnest() instead of one round trip per row. libpqxx 6.4
// has no array parameter support (its array_parser reads arrays; nothing writes them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace keyfleet::controller {

// Every element double-quoted, with '"' and '\' backslash-escaped: any text round-trips.
std::string PgTextArray(const std::vector<std::string>& elements);
std::string PgBigintArray(const std::vector<int64_t>& elements);

}  // namespace keyfleet::controller
