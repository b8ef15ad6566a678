// A saga's graph as SVG, laid out on the server by Graphviz's library (libgvc: the `dot`
// layout engine, the same picture `sagactl graph --format dot` describes). Each step's node
// carries the element id `step-NAME`, each compensation's `undo-NAME`, so the console colours
// them by state without a layout of its own.
//
// Threading: Graphviz keeps global state; call from one thread (the admin endpoint's
// executor). Results are cached per definition version.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "sagas/definition.h"
#include "sagas/result.h"

namespace server {

class GraphRenderer {
 public:
  GraphRenderer();
  ~GraphRenderer();
  GraphRenderer(const GraphRenderer&) = delete;
  GraphRenderer& operator=(const GraphRenderer&) = delete;

  // The SVG document, or why Graphviz could not lay it out.
  sagas::Result<std::string> svg(const sagas::Definition& def);

 private:
  struct Context;
  std::unique_ptr<Context> gvc_;
  std::map<std::pair<std::string, int>, std::string> cache_;
};

}  // namespace server
