// JSON string escaping shared by the views, the summary and the event JSON.
#pragma once

#include <string>

namespace darkscope {

// Escapes a string for a JSON string literal. Invalid UTF-8 becomes U+FFFD so the output is
// always valid JSON, whatever bytes a packet or a database put in the string.
std::string json_escape(const std::string& s);

}  // namespace darkscope
