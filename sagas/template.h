// Template: a payload (or `when` value) compiled from the DSL's `${...}` templates.
//
// The DSL compiler (dsl/) parses and checks templates at load time and hands the engine this
// tree, in which every step reference is already resolved to a StepIndex; rendering at run
// time is then a walk with no parsing and no name lookups. A node is a literal JSON value
// (whole subtrees without templates are folded into one), a reference (a string that is
// exactly one template keeps the referenced value's JSON type), an interpolated string, or
// an array/object of nodes. Immutable once built; safe to share across threads.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sagas/json.h"
#include "sagas/named_type.h"
#include "sagas/result.h"

namespace sagas {

// What a reference's path starts from.
enum class RefRoot { input, saga_id, saga_name, saga_version, step_reply, step_request };

// One segment of a path: an object key or an array index.
using PathSegment = std::variant<std::string, std::size_t>;

struct Ref {
  RefRoot root = RefRoot::input;
  StepIndex step{};                  // for step_reply / step_request
  std::vector<PathSegment> path;     // below the root
  std::string text;                  // the path as written, for messages: "input.items[0]"
};

// What rendering reads. Step values are looked up by index; null means "none yet".
struct RenderContext {
  const Json* input = nullptr;
  std::string_view saga_id;
  std::string_view saga_name;
  int saga_version = 0;
  std::function<const Json*(StepIndex, RefRoot)> step_value;
};

// How a reference to a value that is not there renders. Outside compensations a missing
// value fails the step; inside a compensation it is null (a step that timed out has no
// reply, and the participant finds what to undo by idempotency key).
enum class Missing { fail, as_null };

class Template {
 public:
  struct Interpolation {
    // Alternating literal text and references; text parts may be empty.
    std::vector<std::variant<std::string, Ref>> parts;
  };
  using Array = std::vector<Template>;
  using Object = std::vector<std::pair<std::string, Template>>;

  Template() = default;  // the literal null
  static Template literal(Json value);
  static Template reference(Ref ref);
  static Template interpolation(Interpolation parts);
  // Arrays and objects whose items are all literal fold into a single literal.
  static Template array(Array items);
  static Template object(Object members);

  bool is_literal() const { return node_.index() == 0; }
  const Json* literal_value() const { return std::get_if<Json>(&node_); }

  Result<Json> render(const RenderContext& ctx, Missing missing) const;

  // Calls `fn` for every reference in the tree, in document order.
  void for_each_ref(const std::function<void(const Ref&)>& fn) const;

 private:
  std::variant<Json, Ref, Interpolation, Array, Object> node_;
};

// Looks up a reference's value in `ctx`; nullptr when it is not there.
const Json* resolve(const Ref& ref, const RenderContext& ctx, Json& scratch);

// The text a value takes inside an interpolated string: strings as they are, other values
// as their JSON text.
void append_as_text(std::string& out, const Json& value);

}  // namespace sagas
