// Text from participants, operators and the network, made safe to print: control characters
// (C0 and DEL, and CR) are shown as escapes, so a reply's error cannot forge a log line, move a
// terminal's cursor, or clear it. JSON output needs none of this: it escapes by construction.
#pragma once

#include <string>
#include <string_view>

namespace cli {

// `text` with every control character but tab written as an escape (\n, \r, \x1b).
// `continue_lines`: a newline is kept, and followed by an indent, so a message of several
// lines still reads as one record (the log's own multi-line messages).
std::string printable(std::string_view text, bool continue_lines = false);

}  // namespace cli
