#include "dsl/compiler.h"

#include <fstream>
#include <sstream>

#include "dsl/compiler_impl.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

namespace dsl::detail {

bool Compiler::check_text(std::string_view text) {
  int line = 1, column = 1;
  bool content = false;  // seen anything but comments, directives and blank lines
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", c);
      error(Pos{line, column}, std::string("control character ") + hex +
                                   " in the file: YAML text may not contain control characters");
      return false;
    }
    if (c != '\n') {
      ++column;
      continue;
    }
    std::string_view l = text.substr(line_start, i - line_start);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    // yaml-cpp reads only the first document; a second one would be silently ignored.
    bool marker = l.starts_with("---") && (l.size() == 3 || l[3] == ' ' || l[3] == '\t');
    if (marker && content) {
      error(Pos{line, 1}, "one saga per file: a second YAML document starts here; move it to its "
                          "own file");
      return false;
    }
    std::size_t first = l.find_first_not_of(" \t");
    if (!marker && first != std::string_view::npos && l[first] != '#' && l[first] != '%') content = true;
    ++line;
    column = 1;
    line_start = i + 1;
  }
  std::string_view last = text.substr(line_start);
  if (content && last.starts_with("---") && (last.size() == 3 || last[3] == ' ' || last[3] == '\t')) {
    error(Pos{line, 1}, "one saga per file: a second YAML document starts here; move it to its own file");
    return false;
  }
  return true;
}

namespace {

// Counts the parser's events (one per scalar, sequence, mapping, alias) without building a
// tree, and stops at the node limit: a document is refused before it takes any memory.
class EventCounter final : public YAML::EventHandler {
 public:
  struct Exceeded {
    YAML::Mark mark;
  };
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { count(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { count(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { count(m); }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    count(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    count(m);
  }
  void OnMapEnd() override {}

 private:
  void count(const YAML::Mark& m) {
    if (++events_ > kMaxNodes) throw Exceeded{m};
  }
  std::size_t events_ = 0;
};

}  // namespace

// Where the document passes the node limit; nullopt when it does not. Syntax errors are left
// to YAML::Load, which reports them.
std::optional<Pos> Compiler::count_events(std::string_view text) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  EventCounter counter;
  try {
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (const EventCounter::Exceeded& e) {
    return Pos{e.mark.line + 1, e.mark.column + 1};
  } catch (const YAML::Exception&) {
  }
  return std::nullopt;
}

CompileResult Compiler::run(std::string_view text) {
  CompileResult result;
  def_.source = file_;
  if (text.size() > kMaxFileBytes) {
    error(Pos{1, 1}, "file is larger than " + std::to_string(kMaxFileBytes / (1024 * 1024)) +
                         " MiB; a saga definition should be far smaller");
  } else {
    std::optional<YAML::Node> doc;
    if (check_text(text)) {
      try {
        if (auto too_big = count_events(text)) {
          error(*too_big, "the document has more than " + std::to_string(kMaxNodes) +
                              " nodes; a saga definition should be far smaller");
          text = {};  // not built: the tree of a huge document is what costs
        } else {
          doc = YAML::Load(std::string(text));
        }
      } catch (const YAML::Exception& ex) {
        Pos p = ex.mark.is_null() ? Pos{1, 1} : Pos{ex.mark.line + 1, ex.mark.column + 1};
        error(p, "YAML syntax: " + ex.msg);
      }
    }
    if (doc && doc->IsNull()) {
      error(Pos{1, 1}, "empty file: expected a saga definition with apiVersion, saga and steps");
    } else if (doc) {
      compile_top(*doc);
    }
  }
  sort_by_position(diags_);
  result.diagnostics = std::move(diags_);
  result.name_line = name_pos_.line;
  result.name_column = name_pos_.column;
  if (!has_errors(result.diagnostics)) {
    for (auto& d : drafts_) def_.steps.push_back(std::move(d.step));
    result.definition = std::make_shared<const sagas::Definition>(std::move(def_));
  }
  return result;
}

}  // namespace dsl::detail

namespace dsl {

using detail::Compiler;

CompileResult compile(std::string_view yaml_text, const std::string& file_name) {
  try {
    return Compiler(file_name).run(yaml_text);
  } catch (const std::exception& ex) {
    // The compiler reports problems as diagnostics; reaching here is a bug in it, but the
    // user still gets a message rather than a crash.
    CompileResult r;
    r.diagnostics.push_back({Severity::error, file_name, 0, 0,
                             std::string("internal compiler error: ") + ex.what() +
                                 " (please report this with the file)"});
    return r;
  }
}

CompileResult compile_file(const std::filesystem::path& path) {
  auto fail = [&](std::string message) {
    CompileResult r;
    r.diagnostics.push_back({Severity::error, path.string(), 0, 0, std::move(message)});
    return r;
  };
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxFileBytes) {
    return fail("file is larger than " + std::to_string(kMaxFileBytes / (1024 * 1024)) +
                " MiB; a saga definition should be far smaller");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path, ec)) {
    return fail("cannot read the file: check that it exists and is readable");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return compile(ss.str(), path.string());
}

}  // namespace dsl
