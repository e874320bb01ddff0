// The spool's files: written whole under a temporary name and renamed, so a crash leaves either
// the complete interval or no file; the oldest dropped first when the quota is reached.
#include "spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace darkscope {

namespace {

constexpr const char* kSuffix = ".interval";

std::string file_name(int64_t start, uint64_t export_id) {
    char name[64];
    std::snprintf(name, sizeof name, "%012" PRId64 "-%016" PRIx64 "%s", start, export_id, kSuffix);
    return name;
}

}  // namespace

Spool::Spool(std::string dir, uint64_t quota_bytes) : dir_(std::move(dir)), quota_(quota_bytes) {
    DIR* d = ::opendir(dir_.c_str());
    if (d == nullptr)
        throw std::runtime_error("fleet spool " + dir_ + ": " + std::strerror(errno));
    while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name.rfind(".tmp-", 0) == 0) {
            ::unlink((dir_ + "/" + name).c_str());
            continue;
        }
        if (name.size() <= std::strlen(kSuffix) ||
            name.compare(name.size() - std::strlen(kSuffix), std::string::npos, kSuffix) != 0)
            continue;
        struct stat st {};
        if (::stat((dir_ + "/" + name).c_str(), &st) != 0)
            continue;
        entries_.push_back(
            {name, std::strtoll(name.c_str(), nullptr, 10), static_cast<uint64_t>(st.st_size)});
        bytes_ += static_cast<uint64_t>(st.st_size);
    }
    ::closedir(d);
    std::sort(entries_.begin(), entries_.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
}

void Spool::write(int64_t start, uint64_t export_id, const std::string& content,
                  std::vector<int64_t>& dropped) {
    const std::string name = file_name(start, export_id);
    const std::string tmp = dir_ + "/.tmp-" + name, final_path = dir_ + "/" + name;
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        throw std::runtime_error("fleet spool: cannot create " + tmp + ": " + std::strerror(errno));
    size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const std::string why = std::strerror(errno);
            ::close(fd);
            ::unlink(tmp.c_str());
            throw std::runtime_error("fleet spool: cannot write " + tmp + ": " + why);
        }
        done += static_cast<size_t>(n);
    }
    ::fsync(fd);
    ::close(fd);
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        ::unlink(tmp.c_str());
        throw std::runtime_error("fleet spool: cannot rename " + tmp + ": " + why);
    }
    entries_.push_back({name, start, content.size()});
    bytes_ += content.size();
    std::sort(entries_.begin(), entries_.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
    while (bytes_ > quota_ && entries_.size() > 1) {
        // The newest interval is kept even alone over the quota: dropping it would leave nothing.
        auto victim = entries_.begin();
        if (victim->name == name)
            ++victim;
        dropped.push_back(victim->start);
        ::unlink((dir_ + "/" + victim->name).c_str());
        bytes_ -= victim->bytes;
        entries_.erase(victim);
    }
}

void Spool::remove_oldest() {
    if (entries_.empty())
        return;
    ::unlink((dir_ + "/" + entries_.front().name).c_str());
    bytes_ -= entries_.front().bytes;
    entries_.erase(entries_.begin());
}

}  // namespace darkscope
