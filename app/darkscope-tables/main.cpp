// darkscope-tables: prints the tables the Python tools share with darkscope, as JSON, from the
// C++ definitions themselves (lib/common's country codes and names, lib/classify's default UDP
// service ports), so the tools never keep a copy of their own:
//   {"countries": {"AD": "Andorra", ...}, "udp_service_ports": [17, 19, ...]}
// Keys sorted, two-space indent, one value per line: what Python's
// json.dumps(tables, indent=2, sort_keys=True, ensure_ascii=False) writes. scripts/
// darkscope_tables.json is this output, checked in; the test tables_fresh fails when it is stale.
#include <cstdio>
#include <cstring>
#include <string>

#include "darkscope/country.hpp"
#include "darkscope/json.hpp"
#include "darkscope/udp_service_ports.hpp"

namespace ds = darkscope;

namespace {

std::string tables_json() {
    std::string out = "{\n  \"countries\": {";
    const char* separator = "\n";
    // Index order is the codes' alphabetical order ("AA" is 1, "AB" 2, ...).
    for (uint16_t index = 1; index <= ds::kCountryIndexMax; ++index) {
        if (!ds::country_known(index))
            continue;
        out += separator;
        out += "    \"" + ds::country_code(index) + "\": \"" +
               ds::json_escape(std::string(ds::country_name(index))) + "\"";
        separator = ",\n";
    }
    out += "\n  },\n  \"udp_service_ports\": [";
    separator = "\n";
    for (uint16_t port : ds::kDefaultUdpServicePorts) {  // ascending (static_assert)
        out += separator;
        out += "    " + std::to_string(port);
        separator = ",\n";
    }
    out += "\n  ]\n}\n";
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::printf(
            "usage: darkscope-tables\n"
            "Prints darkscope's country codes and names and its default UDP service ports as\n"
            "JSON, the data scripts/darkscope_tables.json holds for the Python tools.\n");
        return 0;
    }
    if (argc != 1) {
        std::fprintf(stderr, "darkscope-tables: takes no arguments (--help)\n");
        return 2;
    }
    const std::string json = tables_json();
    const bool written =
        std::fwrite(json.data(), 1, json.size(), stdout) == json.size() && std::fflush(stdout) == 0;
    return written ? 0 : 1;  // a full disk or a closed pipe must not pass for a fresh table
}
