#include "darkscope/runtime_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace darkscope {

namespace {

std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr)
        return names;
    while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..")
            names.push_back(name);
    }
    ::closedir(d);
    return names;
}

// The files (as /proc/locks names them, "MAJOR:MINOR:INODE") another process holds a lock on.
std::vector<std::string> locked_by_others() {
    std::vector<std::string> files;
    const std::string self = std::to_string(::getpid());
    std::ifstream in("/proc/locks");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::vector<std::string> f;
        for (std::string word; fields >> word;)
            if (word != "->")  // a waiter's line
                f.push_back(word);
        // "1: FLOCK ADVISORY READ PID MAJOR:MINOR:INODE START END"
        if (f.size() >= 6 && f[4] != self)
            files.push_back(f[5]);
    }
    return files;
}

// Unlinks path unless another process holds a lock on it: EAL's processes (secondaries such as
// dpdk-dumpcap too) hold a shared flock on every fbarray and hugepage file they use. Ours may
// still hold one after rte_eal_cleanup() (the memzone array stays mapped until exit).
void remove_unless_used(const std::string& path, const std::vector<std::string>& locked) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return;
    char key[64];
    std::snprintf(key, sizeof key, "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
                  static_cast<unsigned long long>(st.st_ino));
    for (const auto& file : locked)
        if (file == key)
            return;
    ::unlink(path.c_str());
}

bool is_hugepage_file_of(const std::string& name, const std::string& prefix) {
    const std::string stem = prefix + "map_";
    if (name.size() <= stem.size() || name.compare(0, stem.size(), stem) != 0)
        return false;
    for (size_t i = stem.size(); i < name.size(); ++i)
        if (!std::isdigit(static_cast<unsigned char>(name[i])))
            return false;
    return true;
}

std::vector<std::string> hugetlbfs_mounts() {
    std::vector<std::string> mounts;
    std::ifstream in("/proc/mounts");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string device, mount_point, type;
        if (fields >> device >> mount_point >> type && type == "hugetlbfs")
            mounts.push_back(mount_point);
    }
    return mounts;
}

}  // namespace

void remove_eal_files(const std::string& runtime_dir, const std::string& prefix) {
    if (prefix.empty())
        return;
    const auto locked = locked_by_others();
    for (const auto& mount : hugetlbfs_mounts())
        for (const auto& name : names_in(mount))
            if (is_hugepage_file_of(name, prefix))
                remove_unless_used(mount + "/" + name, locked);
    if (runtime_dir.empty())
        return;
    for (const auto& name : names_in(runtime_dir)) {
        const std::string path = runtime_dir + "/" + name;
        if (name.rfind("fbarray_", 0) == 0)
            remove_unless_used(path, locked);
        else if (name == "config" || name == "hugepage_info" || name == "dpdk_telemetry.v2" ||
                 name.rfind("mp_socket", 0) == 0)
            ::unlink(path.c_str());  // no other primary while ours holds config's lock
    }
    ::rmdir(runtime_dir.c_str());  // only when empty: what is not ours stays
}

}  // namespace darkscope
