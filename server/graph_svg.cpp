#include "server/graph_svg.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include "dsl/graph.h"

namespace server {

struct GraphRenderer::Context {
  GVC_t* gvc = gvContext();
  ~Context() {
    if (gvc != nullptr) gvFreeContext(gvc);
  }
};

namespace {

struct GraphDeleter {
  void operator()(Agraph_t* g) const { agclose(g); }
};
using GraphPtr = std::unique_ptr<Agraph_t, GraphDeleter>;

// Laid out graphs must be freed before the graph itself.
class Layout {
 public:
  Layout(GVC_t* gvc, Agraph_t* g) : gvc_(gvc), g_(g), ok_(gvLayout(gvc, g, "dot") == 0) {}
  ~Layout() {
    if (ok_) gvFreeLayout(gvc_, g_);
  }
  Layout(const Layout&) = delete;
  Layout& operator=(const Layout&) = delete;
  bool ok() const { return ok_; }

 private:
  GVC_t* gvc_;
  Agraph_t* g_;
  bool ok_;
};

}  // namespace

GraphRenderer::GraphRenderer() : gvc_(std::make_unique<Context>()) {}
GraphRenderer::~GraphRenderer() = default;

sagas::Result<std::string> GraphRenderer::svg(const sagas::Definition& def) {
  auto key = std::make_pair(def.name, def.version);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  if (gvc_->gvc == nullptr) return sagas::Error{"Graphviz could not start (gvContext failed)"};
  std::string dot = dsl::render_graph(def, dsl::GraphFormat::dot);
  GraphPtr g(agmemread(dot.c_str()));
  if (!g) return sagas::Error{"Graphviz could not read the graph of " + def.name + " v" + std::to_string(def.version)};
  Layout layout(gvc_->gvc, g.get());
  if (!layout.ok()) return sagas::Error{"Graphviz could not lay out the graph of " + def.name + " v" + std::to_string(def.version)};
  char* data = nullptr;
  unsigned int length = 0;
  if (gvRenderData(gvc_->gvc, g.get(), "svg", &data, &length) != 0 || data == nullptr) {
    return sagas::Error{"Graphviz could not render the graph of " + def.name + " v" + std::to_string(def.version) +
                        " as SVG"};
  }
  std::string out(data, length);
  gvFreeRenderData(data);
  cache_.emplace(key, out);
  return out;
}

}  // namespace server
