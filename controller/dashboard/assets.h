// The dashboard's page, script and style sheet, embedded in the controller at build time
// (embed_assets.cmake): hosts running keyfleet often have no internet, and nothing is read from
// disk at run time.
#pragma once

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace keyfleet::controller::dashboard {

struct Asset {
  absl::string_view path;  // "/index.html", "/app.js", "/app.css"
  absl::string_view content_type;
  absl::string_view body;
};

absl::Span<const Asset> EmbeddedAssets();

// The asset served at `path` ("/" is /index.html); null for anything else.
const Asset* FindAsset(absl::string_view path);

}  // namespace keyfleet::controller::dashboard
