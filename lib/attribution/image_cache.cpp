// Where compiled attribution images live (darkscope/image_cache.hpp).
#include "darkscope/image_cache.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace darkscope::geo_image {

std::string image_name(const std::vector<Source>& sources) {
    std::string key;
    for (const auto& source : sources) {
        key += geo::kind_name(source.kind);
        key += '\0';
        key += source.path;
        key += '\0';
    }
    char name[40];
    std::snprintf(name, sizeof name, "geo-%016llx.dsgeo",
                  static_cast<unsigned long long>(hash_bytes(key.data(), key.size())));
    return name;
}

std::vector<std::string> cache_dirs(const std::string& configured,
                                    const std::vector<Source>& sources) {
    if (!configured.empty()) {
        return {configured};
    }
    std::vector<std::string> dirs;
    if (!sources.empty()) {
        dirs.push_back(std::filesystem::path(sources.front().path).parent_path().string());
    }
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    if (xdg != nullptr && xdg[0] == '/') {
        dirs.push_back(std::string(xdg) + "/darkscope");
    } else if (home != nullptr && home[0] == '/') {
        dirs.push_back(std::string(home) + "/.cache/darkscope");
    }
    return dirs;
}

bool writable_dir(const std::string& dir, bool create, std::string* why) {
    if (create) {
        std::error_code ignored;
        std::filesystem::create_directories(dir, ignored);
    }
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) {
        *why = dir + ": " + std::strerror(errno);
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        *why = dir + ": not a directory";
        return false;
    }
    if (access(dir.c_str(), W_OK) != 0) {
        *why = dir + ": " + std::strerror(errno);
        return false;
    }
    if ((st.st_mode & 0222) == 0) {
        *why = dir + ": read-only directory";
        return false;
    }
    return true;
}

}  // namespace darkscope::geo_image
