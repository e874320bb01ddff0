// The fleet options, checked once at start-up: what can be wrong before ClickHouse is asked
// anything (the URL's form, the credentials file, the spool directory) is a start-up error;
// what only ClickHouse can tell (reachable, database, credentials) is not (docs/fleet.md).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "darkscope/fleet.hpp"
#include "darkscope/url.hpp"

namespace darkscope {

namespace {

[[noreturn]] void fail(const std::string& message) {
    throw FleetSetupError(message);
}

std::string host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0')
        return "darkscope";
    return name;
}

}  // namespace

FleetSettings fleet_settings_of(const std::string& url, const std::string& credentials_file,
                                const std::string& appliance, const std::string& spool_dir,
                                unsigned spool_quota_mb, bool tuples) {
    FleetSettings s;
    UrlParts p;
    std::string why;
    if (!split_url(url, p, why))
        fail("--fleet-url " + redacted_url(url) + ": malformed (" + why + ")");
    if (p.scheme != "http" && p.scheme != "https")
        fail("--fleet-url: scheme '" + p.scheme +
             "' is not http or https (ClickHouse's HTTP interface)");
    s.url = p.scheme + "://" + p.host + (p.port.empty() ? "" : ":" + p.port) + p.path;
    s.database = "darkscope";
    for (const auto& [k, v] : url_parameters(p.query)) {
        if (k == "database")
            s.database = v;
        else if (k == "user")
            s.user = v;
        else if (k == "password")
            s.password = v;
        else
            fail("--fleet-url: unknown parameter '" + k + "' (database, user, password)");
    }
    for (char c : s.database)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
            fail("--fleet-url: database '" + s.database + "' is not a plain name");
    if (!p.userinfo.empty()) {
        const size_t colon = p.userinfo.find(':');
        s.user = percent_decoded(p.userinfo.substr(0, colon));
        if (colon != std::string::npos)
            s.password = percent_decoded(p.userinfo.substr(colon + 1));
    }
    if (!credentials_file.empty()) {
        std::ifstream in(credentials_file);
        std::string line;
        if (!in || !std::getline(in, line))
            fail("--fleet-credentials " + credentials_file + ": cannot read it (" +
                 std::strerror(errno) + ")");
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' '))
            line.pop_back();
        const size_t colon = line.find(':');
        if (colon == std::string::npos || colon == 0)
            fail("--fleet-credentials " + credentials_file + ": want one line user:password");
        s.user = line.substr(0, colon);
        s.password = line.substr(colon + 1);
    }
    s.appliance = appliance.empty() ? host_name() : appliance;
    for (char c : s.appliance)
        if (static_cast<unsigned char>(c) < 0x20 || c == '\\' || c == '\'')
            fail("--appliance: the name holds a control character, a quote or a backslash");
    s.spool_dir = spool_dir;
    if (::mkdir(s.spool_dir.c_str(), 0750) != 0 && errno != EEXIST)
        fail("--fleet-spool " + s.spool_dir + ": cannot create it (" + std::strerror(errno) + ")");
    struct stat st {};
    if (::stat(s.spool_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        fail("--fleet-spool " + s.spool_dir + ": not a directory");
    const std::string probe = s.spool_dir + "/.darkscope-write-test";
    {
        std::ofstream out(probe);
        out << "x";
        out.flush();
        if (!out)
            fail("--fleet-spool " + s.spool_dir + ": not writable (" + std::strerror(errno) + ")");
    }
    ::unlink(probe.c_str());
    s.spool_quota_bytes = uint64_t{spool_quota_mb} << 20;
    s.tuples = tuples;
    return s;
}

}  // namespace darkscope
