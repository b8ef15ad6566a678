#include "dsl/graph.h"

#include <algorithm>
#include <vector>

namespace dsl {

namespace {

enum class NodeKind { terminal, step, pivot, compensation, hub };
enum class EdgeKind { forward, failure, compensation, retry };

struct Node {
  std::string id;
  std::vector<std::string> lines;  // label lines
  NodeKind kind = NodeKind::step;
  std::string element;  // DOT `id` (the SVG element's id): step-NAME, undo-NAME; empty: none
};

struct Edge {
  std::string from;
  std::string to;
  EdgeKind kind = EdgeKind::forward;
  std::string label;
};

struct Cluster {
  std::string id;
  std::string label;
  std::vector<std::string> nodes;
};

// The picture, independent of the output syntax.
struct Graph {
  std::string title;
  std::vector<Node> nodes;  // outside clusters
  std::vector<Cluster> clusters;
  std::vector<Edge> edges;
};

std::string step_id(const sagas::Step& s) { return "s" + std::to_string(s.index.value()); }
std::string comp_id(const sagas::Step& s) { return "c" + std::to_string(s.index.value()); }

std::string when_text(const sagas::Step& s) {
  if (!s.when) return {};
  if (const auto* lit = s.when->literal_value()) return "when " + lit->dump();
  std::string out;
  s.when->for_each_ref([&](const sagas::Ref& r) { out = "when ${" + r.text + "}"; });
  return out;
}

Node step_node(const sagas::Step& s) {
  Node n{step_id(s), {s.name, s.execute.command + " → " + s.execute.topic}, NodeKind::step, "step-" + s.name};
  if (s.pivot) {
    n.kind = NodeKind::pivot;
    n.lines.push_back("pivot");
  }
  if (auto w = when_text(s); !w.empty()) n.lines.push_back(w);
  return n;
}

// Forward: start, stage by stage (a parallel group as a cluster), completed.
void add_forward(Graph& g, const sagas::Definition& def) {
  g.nodes.push_back({"start", {"start"}, NodeKind::terminal, "start"});
  std::vector<std::string> previous = {"start"};
  for (const auto& stage : def.stages) {
    std::vector<std::string> current;
    std::vector<Node> nodes;
    for (auto i : stage.steps) {
      nodes.push_back(step_node(def.step(i)));
      current.push_back(step_id(def.step(i)));
    }
    if (stage.group) {
      const auto& group = def.group(*stage.group);
      Cluster c{"g" + std::to_string(stage.group->value()), "parallel: " + group.name, {}};
      for (auto& n : nodes) {
        c.nodes.push_back(n.id);
        g.nodes.push_back(std::move(n));
      }
      g.clusters.push_back(std::move(c));
    } else {
      for (auto& n : nodes) g.nodes.push_back(std::move(n));
    }
    for (const auto& from : previous) {
      for (const auto& to : current) g.edges.push_back({from, to, EdgeKind::forward, ""});
    }
    previous = std::move(current);
  }
  for (const auto& from : previous) g.edges.push_back({from, "completed", EdgeKind::forward, ""});
  g.nodes.push_back({"completed", {"completed"}, NodeKind::terminal, "end-completed"});
}

// The compensation nodes and their edges; returns, per stage, where unwinding starts when a
// step of that stage fails (the compensate-all hub under the parallel strategy).
std::vector<std::vector<std::string>> add_compensations(Graph& g, const sagas::Definition& def) {
  std::vector<std::vector<std::string>> comps(def.stages.size());
  bool any_comp = false;
  for (const auto& s : def.steps) {
    if (!s.compensation) continue;
    any_comp = true;
    comps[s.stage].push_back(comp_id(s));
    g.nodes.push_back({comp_id(s),
                       {s.compensation->command + " → " + s.compensation->topic, "undo " + s.name},
                       NodeKind::compensation, "undo-" + s.name});
  }
  g.nodes.push_back({"compensated", {"compensated"}, NodeKind::terminal, "end-compensated"});
  if (def.compensation_strategy == sagas::CompensationStrategy::parallel && any_comp) {
    g.nodes.push_back({"compensate_all", {"compensate all"}, NodeKind::hub, "compensate-all"});
    for (const auto& stage_comps : comps) {
      for (const auto& c : stage_comps) {
        g.edges.push_back({"compensate_all", c, EdgeKind::compensation, ""});
        g.edges.push_back({c, "compensated", EdgeKind::compensation, ""});
      }
    }
    return std::vector<std::vector<std::string>>(def.stages.size(), {"compensate_all"});
  }
  // entries[k]: where unwinding starts when stage k fails (sequential strategy).
  std::vector<std::vector<std::string>> entries(def.stages.size());
  for (std::size_t k = 0; k < def.stages.size(); ++k) {
    if (!comps[k].empty()) {
      entries[k] = comps[k];
    } else {
      entries[k] = k == 0 ? std::vector<std::string>{"compensated"} : entries[k - 1];
    }
  }
  for (std::size_t k = 0; k < def.stages.size(); ++k) {
    const auto& next = k == 0 ? std::vector<std::string>{"compensated"} : entries[k - 1];
    for (const auto& c : comps[k]) {
      for (const auto& to : next) g.edges.push_back({c, to, EdgeKind::compensation, ""});
    }
  }
  return entries;
}

Graph build(const sagas::Definition& def) {
  Graph g;
  g.title = def.name + " v" + std::to_string(def.version);
  add_forward(g, def);
  auto entries = add_compensations(g, def);
  for (const auto& s : def.steps) {
    if (s.retriable) {
      g.edges.push_back({step_id(s), step_id(s), EdgeKind::retry, "retry"});
      continue;
    }
    for (const auto& to : entries[s.stage]) g.edges.push_back({step_id(s), to, EdgeKind::failure, "fails"});
  }
  return g;
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string dot_label(const std::vector<std::string>& lines) {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += "\\n";
    out += dot_escape(lines[i]);
  }
  return out;
}

std::string dot_node(const Node& n) {
  std::string attrs = "label=\"" + dot_label(n.lines) + "\"";
  if (!n.element.empty()) attrs += ", id=\"" + dot_escape(n.element) + "\"";
  switch (n.kind) {
    case NodeKind::terminal:
      attrs += n.id == "start" ? ", shape=circle" : ", shape=doublecircle";
      break;
    case NodeKind::step: break;
    case NodeKind::pivot: attrs += ", style=\"rounded,bold\", peripheries=2"; break;
    case NodeKind::compensation: attrs += ", style=\"rounded,dashed\""; break;
    case NodeKind::hub: attrs += ", shape=diamond"; break;
  }
  return n.id + " [" + attrs + "];\n";
}

std::string render_dot(const Graph& g) {
  std::string out = "digraph \"" + dot_escape(g.title) + "\" {\n";
  out += "  label=\"" + dot_escape(g.title) + "\";\n  labelloc=t;\n  rankdir=TB;\n  fontname=\"Helvetica\";\n";
  out += "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n";
  out += "  edge [fontname=\"Helvetica\"];\n";
  std::vector<std::string> clustered;
  for (const auto& c : g.clusters) clustered.insert(clustered.end(), c.nodes.begin(), c.nodes.end());
  auto is_clustered = [&](const std::string& id) {
    return std::find(clustered.begin(), clustered.end(), id) != clustered.end();
  };
  for (const auto& n : g.nodes) {
    if (!is_clustered(n.id)) out += "  " + dot_node(n);
  }
  for (const auto& c : g.clusters) {
    out += "  subgraph cluster_" + c.id + " {\n";
    out += "    label=\"" + dot_escape(c.label) + "\";\n    style=dashed;\n";
    for (const auto& id : c.nodes) {
      auto n = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node& x) { return x.id == id; });
      out += "    " + dot_node(*n);
    }
    out += "  }\n";
  }
  for (const auto& e : g.edges) {
    // A retry loops from the node's north-east corner to its south-east one: a loop that big
    // keeps its label clear of its arrow (a loop on one side is drawn smaller than the label).
    bool loop = e.kind == EdgeKind::retry;
    out += "  " + e.from + (loop ? ":ne" : "") + " -> " + e.to + (loop ? ":se" : "");
    std::string attrs;
    switch (e.kind) {
      case EdgeKind::forward: break;
      case EdgeKind::failure: attrs = "style=dashed, color=red"; break;
      case EdgeKind::compensation: attrs = "style=dashed"; break;
      case EdgeKind::retry: attrs = "style=dotted"; break;
    }
    if (!e.label.empty()) attrs += (attrs.empty() ? "" : ", ") + std::string("label=\"") + e.label + "\"";
    if (!attrs.empty()) out += " [" + attrs + "]";
    out += ";\n";
  }
  out += "}\n";
  return out;
}

std::string mermaid_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"') out += "#quot;";
    else if (c == '<') out += "#lt;";
    else if (c == '>') out += "#gt;";
    else out.push_back(c);
  }
  return out;
}

std::string mermaid_node(const Node& n) {
  std::string label;
  for (std::size_t i = 0; i < n.lines.size(); ++i) {
    if (i > 0) label += "<br/>";
    label += mermaid_escape(n.lines[i]);
  }
  switch (n.kind) {
    case NodeKind::terminal: return n.id + "((\"" + label + "\"))";
    case NodeKind::hub: return n.id + "{\"" + label + "\"}";
    case NodeKind::pivot: return n.id + "[\"" + label + "\"]:::pivot";
    case NodeKind::compensation: return n.id + "[\"" + label + "\"]:::compensation";
    case NodeKind::step: return n.id + "[\"" + label + "\"]";
  }
  return n.id;
}

std::string render_mermaid(const Graph& g) {
  std::string out = "---\ntitle: " + g.title + "\n---\nflowchart TD\n";
  std::vector<std::string> clustered;
  for (const auto& c : g.clusters) clustered.insert(clustered.end(), c.nodes.begin(), c.nodes.end());
  for (const auto& n : g.nodes) {
    if (std::find(clustered.begin(), clustered.end(), n.id) == clustered.end()) {
      out += "  " + mermaid_node(n) + "\n";
    }
  }
  for (const auto& c : g.clusters) {
    out += "  subgraph " + c.id + " [\"" + mermaid_escape(c.label) + "\"]\n";
    for (const auto& id : c.nodes) {
      auto n = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node& x) { return x.id == id; });
      out += "    " + mermaid_node(*n) + "\n";
    }
    out += "  end\n";
  }
  for (const auto& e : g.edges) {
    switch (e.kind) {
      case EdgeKind::forward: out += "  " + e.from + " --> " + e.to + "\n"; break;
      case EdgeKind::failure:
      case EdgeKind::compensation:
      case EdgeKind::retry:
        if (e.label.empty()) {
          out += "  " + e.from + " -.-> " + e.to + "\n";
        } else {
          out += "  " + e.from + " -. " + e.label + " .-> " + e.to + "\n";
        }
        break;
    }
  }
  out += "  classDef pivot stroke-width:4px\n";
  out += "  classDef compensation stroke-dasharray:5 5\n";
  return out;
}

}  // namespace

std::string render_graph(const sagas::Definition& def, GraphFormat format) {
  Graph g = build(def);
  return format == GraphFormat::dot ? render_dot(g) : render_mermaid(g);
}

}  // namespace dsl
