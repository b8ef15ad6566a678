#include "dsl/loader.h"

#include <algorithm>
#include <map>
#include <utility>

namespace dsl {

namespace {

bool is_saga_file(const std::filesystem::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

}  // namespace

LoadResult load(const std::vector<std::filesystem::path>& paths) {
  namespace fs = std::filesystem;
  LoadResult result;
  std::vector<fs::path> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->is_regular_file(ec) && is_saga_file(it->path())) found.push_back(it->path());
      }
      if (ec) {
        result.diagnostics.push_back({Severity::error, p.string(), 0, 0,
                                      "cannot read the directory: " + ec.message()});
      }
      std::sort(found.begin(), found.end());
      if (found.empty() && !ec) {
        result.diagnostics.push_back({Severity::error, p.string(), 0, 0,
                                      "no saga files (*.yaml, *.yml) in this directory"});
      }
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      files.push_back(p);
    } else {
      result.diagnostics.push_back({Severity::error, p.string(), 0, 0,
                                    "no such file or directory"});
    }
  }

  // (name, version) -> where it was first defined
  std::map<std::pair<std::string, int>, std::string> seen;
  for (const auto& file : files) {
    ++result.files;
    CompileResult r = compile_file(file);
    result.diagnostics.insert(result.diagnostics.end(), r.diagnostics.begin(), r.diagnostics.end());
    if (!r.ok()) continue;
    auto key = std::make_pair(r.definition->name, r.definition->version);
    std::string here = file.string() + ":" + std::to_string(r.name_line) + ":" + std::to_string(r.name_column);
    auto [it, inserted] = seen.emplace(key, here);
    if (!inserted) {
      result.diagnostics.push_back({Severity::error, file.string(), r.name_line, r.name_column,
                                    "saga \"" + key.first + "\" version " + std::to_string(key.second) +
                                        " is already defined at " + it->second +
                                        "; bump version or rename one of them"});
      continue;
    }
    result.definitions.push_back(std::move(r.definition));
  }
  return result;
}

}  // namespace dsl
