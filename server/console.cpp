#include "server/console.h"

#include <algorithm>
#include <array>
#include <utility>

namespace server {

namespace {

// Nothing but this endpoint: scripts, styles, images and API calls all come from 'self'.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

constexpr std::array<std::pair<std::string_view, const char*>, 5> kContentTypes = {{
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
}};

const char* content_type_of(std::string_view path) {
  for (const auto& [ext, type] : kContentTypes) {
    if (path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext) return type;
  }
  return "application/octet-stream";
}

const ConsoleAsset* find_asset(std::string_view path) {
  auto* it = std::find_if(console_assets_begin(), console_assets_end(),
                          [&](const ConsoleAsset& a) { return a.path == path; });
  return it == console_assets_end() ? nullptr : it;
}

bool is_page(const std::string& path) {
  auto under = [&](std::string_view root) {
    return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                            path[root.size()] == '/');
  };
  return path == "/" || under("/sagas") || under("/definitions");
}

HttpResponse answer(const ConsoleAsset& asset) {
  HttpResponse r{200, content_type_of(asset.path), std::string(asset.body), {}};
  r.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cache-Control", "no-cache");  // revalidated: a new sagactl serves new assets
  return r;
}

}  // namespace

std::optional<HttpResponse> console_page(const std::string& path) {
  if (is_page(path)) {
    const ConsoleAsset* shell = find_asset("/index.html");
    if (shell != nullptr) return answer(*shell);
    return std::nullopt;
  }
  if (path.rfind("/assets/", 0) == 0) {
    if (const ConsoleAsset* a = find_asset(path)) return answer(*a);
  }
  return std::nullopt;
}

}  // namespace server
