// Paging by key, without gRPC: PageAfter over a list in memory and ReadKeptRows over batched
// store reads, each a table of cases.
#include "controller/service/list_page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "controller/handlers/keyset_read.h"

namespace keyfleet::controller {
namespace {

using ::testing::ElementsAreArray;

std::vector<int> Values(const ListPage<int>& page) {
  std::vector<int> out;
  for (const int* v : page.items) out.push_back(*v);
  return out;
}

TEST(PageAfter, TakesTheVisibleItemsAfterTheKey) {
  const std::vector<int> sorted = {2, 4, 6, 8, 10, 12};
  auto identity = [](int v) { return v; };
  auto all = [](int) { return true; };
  auto multiples_of_4 = [](int v) { return v % 4 == 0; };
  struct Case {
    const char* what;
    int after;
    uint32_t size;
    bool (*visible)(int);
    std::vector<int> items;
    bool more;
  };
  const Case cases[] = {
      {"first page", 0, 2, +all, {2, 4}, true},
      {"after an item", 4, 2, +all, {6, 8}, true},
      {"after a key no item has (removed)", 5, 2, +all, {6, 8}, true},
      {"the last page, exactly full", 8, 2, +all, {10, 12}, false},
      {"after the last item", 12, 2, +all, {}, false},
      {"past every key", 99, 2, +all, {}, false},
      {"larger than the list", 0, 100, +all, {2, 4, 6, 8, 10, 12}, false},
      {"only visible items, full page", 0, 2, +multiples_of_4, {4, 8}, true},
      {"only visible items, last page", 8, 2, +multiples_of_4, {12}, false},
      {"invisible items after the page do not make another", 8, 1, +multiples_of_4, {12}, false},
  };
  for (const Case& c : cases) {
    const ListPage<int> page = PageAfter(sorted, c.after, c.size, identity, c.visible);
    EXPECT_THAT(Values(page), ElementsAreArray(c.items)) << c.what;
    EXPECT_EQ(page.more, c.more) << c.what;
  }
}

// A table of rows 1..n read as a store would: at most `limit` after `after`, counting reads.
struct FakeTable {
  int rows;
  int reads = 0;
  bool fail_on_second_read = false;

  absl::StatusOr<std::vector<int>> Read(int after, size_t limit) {
    if (++reads == 2 && fail_on_second_read) return absl::UnavailableError("database down");
    std::vector<int> out;
    for (int v = after + 1; v <= rows && out.size() < limit; ++v) out.push_back(v);
    return out;
  }
};

TEST(ReadKeptRows, ReadsBatchesUntilThePageIsFullOrTheRowsEnd) {
  const int batch = static_cast<int>(kMinKeysetBatch);
  struct Case {
    const char* what;
    int rows;
    int after;
    size_t limit;
    int keep_every;  // keeps rows divisible by this
    std::vector<int> kept;
    int reads;
  };
  const Case cases[] = {
      {"all visible: one read", 1000, 0, 3, 1, {1, 2, 3}, 1},
      {"from a cursor", 1000, 10, 2, 1, {11, 12}, 1},
      {"fewer rows than the limit", 2, 0, 5, 1, {1, 2}, 1},
      {"no rows", 0, 0, 5, 1, {}, 1},
      {"sparse rows over several batches", 1000, 0, 3, 300, {300, 600, 900}, 4},
      {"sparse rows ending before the page is full", 1000, 0, 5, 400, {400, 800}, 4},
      {"rows ending exactly at a batch", batch, 0, 5, batch, {batch}, 2},
      {"none visible", 600, 0, 5, 1000, {}, 3},
  };
  for (const Case& c : cases) {
    FakeTable table{c.rows};
    absl::StatusOr<std::vector<int>> kept = ReadKeptRows<int>(
        c.after, c.limit, [&](int after, size_t n) { return table.Read(after, n); },
        [](int row) { return row; }, [&](int row) { return row % c.keep_every == 0; });
    ASSERT_TRUE(kept.ok()) << c.what;
    EXPECT_THAT(*kept, ElementsAreArray(c.kept)) << c.what;
    EXPECT_EQ(table.reads, c.reads) << c.what;
  }
}

TEST(ReadKeptRows, AFailedReadIsTheAnswer) {
  FakeTable table{1000, 0, /*fail_on_second_read=*/true};
  absl::StatusOr<std::vector<int>> kept = ReadKeptRows<int>(
      0, 3, [&](int after, size_t n) { return table.Read(after, n); }, [](int row) { return row; },
      [](int row) { return row % 500 == 0; });
  EXPECT_EQ(kept.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace keyfleet::controller
