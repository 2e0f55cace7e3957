#include "controller/dashboard/assets.h"

namespace keyfleet::controller::dashboard {

const Asset* FindAsset(absl::string_view path) {
  if (path == "/") path = "/index.html";
  for (const Asset& asset : EmbeddedAssets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace keyfleet::controller::dashboard
