// The web console's static side: the page shell and its assets (HTML, CSS, JavaScript under
// server/console/), compiled into the binary by cmake/embed_assets.cmake, so the console
// needs no files beside sagactl and the browser loads nothing from anywhere else (the
// Content-Security-Policy says so). The shell holds no data: the page asks the admin API
// for everything, sending the admin token when one is set.
//
// Page routes (all answer the shell; the page reads its route from the URL):
//   /  and /sagas          the saga list
//   /sagas/ID              one saga
//   /definitions[/NAME]    the loaded definitions
//   /assets/FILE           the assets
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "server/admin.h"

namespace server {

struct ConsoleAsset {
  std::string_view path;  // "/assets/app.js"; the shell is "/index.html"
  std::string_view body;
};

// Generated (console_assets.cpp): every file of server/console/.
const ConsoleAsset* console_assets_begin();
const ConsoleAsset* console_assets_end();

// The answer for a console route, or nullopt when `path` is not one.
std::optional<HttpResponse> console_page(const std::string& path);

}  // namespace server
