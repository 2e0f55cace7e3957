// Reading one page of a long stored list (hosts, join tokens) that the caller sees only part of:
// rows are read from the store a batch at a time in the order of a unique key, starting after
// the previous page's last one, and only those the caller may see are kept. A page costs the
// rows up to its last item, not the whole table.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace keyfleet::controller {

// Rows are read this many at a time at least: a caller that sees few rows gets its page in a
// few reads, not one per row.
inline constexpr size_t kMinKeysetBatch = 256;

// At most `limit` rows after `after` that `keep` accepts, in key order. `read(after, n)` gives at
// most n rows after `after` in key order (fewer only at the end); `next(row)` is the cursor that
// continues after `row`.
template <typename Row, typename Cursor, typename Read, typename Next, typename Keep>
absl::StatusOr<std::vector<Row>> ReadKeptRows(Cursor after, size_t limit, Read read, Next next,
                                              Keep keep) {
  std::vector<Row> kept;
  const size_t batch = std::max(limit, kMinKeysetBatch);
  while (kept.size() < limit) {
    absl::StatusOr<std::vector<Row>> rows = read(after, batch);
    if (!rows.ok()) return rows.status();
    const bool last_batch = rows->size() < batch;
    if (!last_batch) after = next(rows->back());
    for (Row& row : *rows) {
      if (kept.size() == limit) break;
      if (keep(row)) kept.push_back(std::move(row));
    }
    if (last_batch) break;
  }
  return kept;
}

}  // namespace keyfleet::controller
