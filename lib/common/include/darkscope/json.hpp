// JSON string escaping shared by the views, the summary and the event JSON.
#pragma once

#include <string>

namespace darkscope {

// Escapes a string for a JSON string literal. Invalid UTF-8 becomes U+FFFD so the output is
// always valid JSON, whatever bytes a packet or a database put in the string.
std::string json_escape(const std::string& s);

// The same string escaped into ASCII only: characters above U+007F as \uXXXX (a surrogate pair
// above U+FFFF), so that "\"" + json_escape_ascii(s) + "\"" parses to what json_escape() keeps.
// Telemetry strings travel this way: DPDK 22.11's own escaping mangles every byte from 0x80.
std::string json_escape_ascii(const std::string& s);

}  // namespace darkscope
