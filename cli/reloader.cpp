#include "cli/reloader.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <memory>
#include <sstream>

#include "cli/loading.h"

namespace cli {

Reloader::~Reloader() {
  if (worker_.joinable()) worker_.join();  // after the loop: what it posts is not run
}

void Reloader::request() {
  if (running_) {
    again_ = true;
    spdlog::info("reload (SIGHUP): one is running; the files are read again once it ends");
    return;
  }
  if (worker_.joinable()) worker_.join();  // finished: its result was applied
  running_ = true;
  worker_ = std::thread([this] {
    auto problems = std::make_shared<std::ostringstream>();
    auto loaded = std::make_shared<dsl::LoadResult>(load_or_report(c_.sagas, *problems));
    boost::asio::post(io_, [this, loaded, problems] {
      running_ = false;
      apply(*loaded, problems->str());
      if (std::exchange(again_, false)) request();
    });
  });
}

void Reloader::apply(const dsl::LoadResult& loaded, const std::string& problems) {
  auto current = node_.definitions();
  if (!loaded.ok()) {
    spdlog::error("reload (SIGHUP) refused: the saga files have errors; the {} loaded definition(s) stay:\n{}",
                  current.size(), problems);
    return;
  }
  std::size_t added = 0;
  for (const auto& def : loaded.definitions) {
    bool known = std::any_of(current.begin(), current.end(), [&](const sagas::DefinitionPtr& d) {
      return d->name == def->name && d->version == def->version;
    });
    if (known) continue;
    if (broker_ != nullptr) {
      if (auto e = create_topics(*broker_, topics_of({def}), c_.kafka.partitions)) {
        spdlog::error("reload (SIGHUP): {} v{} not loaded: {}", def->name, def->version, *e);
        continue;
      }
    }
    node_.add(def);
    ++added;
    spdlog::info("reload (SIGHUP): loaded {} v{} from {}", def->name, def->version, def->source);
  }
  spdlog::info("reload (SIGHUP): {} new definition(s), {} loaded in all (a changed file needs a new version: "
               "number to take effect)",
               added, current.size() + added);
}

}  // namespace cli
