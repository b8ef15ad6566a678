// Graph export: the compiled state machine as Graphviz DOT or Mermaid source.
//
// Forward edges follow the stages (a parallel group fans out and in, drawn as a cluster);
// dashed edges show what a failure starts: the compensations, in the order the saga's
// strategy runs them, ending in `compensated`. The pivot is drawn bold and double-framed;
// steps after it loop on themselves ("retry") and have no failure edge. In DOT, a step's
// node has the id `step-NAME` and its compensation's `undo-NAME` (the SVG element ids).
#pragma once

#include <string>
#include <string_view>

#include "sagas/definition.h"

namespace dsl {

enum class GraphFormat { dot, mermaid };

std::string render_graph(const sagas::Definition& def, GraphFormat format);

}  // namespace dsl
