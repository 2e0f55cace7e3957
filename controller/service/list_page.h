// One page of a list held whole in memory (keys, principals, grants from the fleet view;
// credentials), in the order of a unique key: the items after the previous page's last key that
// the caller may see, at most the page size. Paging by key, never by position, is what keeps
// items added or removed between pages from making another be skipped or listed twice.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace keyfleet::controller {

template <typename T>
struct ListPage {
  std::vector<const T*> items;
  bool more = false;  // a visible item follows items.back(): the next page starts after it
};

// `sorted` is in ascending order of `key_of(item)`, a key no two items share; `after` is the
// previous page's last key, or one below every key for the first page.
template <typename T, typename Key, typename KeyOf, typename Visible>
ListPage<T> PageAfter(const std::vector<T>& sorted, const Key& after, uint32_t size, KeyOf key_of,
                      Visible visible) {
  ListPage<T> page;
  auto it = std::upper_bound(sorted.begin(), sorted.end(), after,
                             [&](const Key& k, const T& item) { return k < key_of(item); });
  for (; it != sorted.end(); ++it) {
    if (!visible(*it)) continue;
    if (page.items.size() == size) {
      page.more = true;
      break;
    }
    page.items.push_back(&*it);
  }
  return page;
}

}  // namespace keyfleet::controller
