// Any bytes in, diagnostics or a definition out: never a crash, hang or leak. Valid inputs
// are also drawn, so graph export sees every shape the compiler accepts.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dsl/compiler.h"
#include "dsl/graph.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  dsl::CompileResult r = dsl::compile(text, "fuzz.yaml");
  if (r.ok()) {
    (void)dsl::render_graph(*r.definition, dsl::GraphFormat::dot);
    (void)dsl::render_graph(*r.definition, dsl::GraphFormat::mermaid);
  }
  return 0;
}
