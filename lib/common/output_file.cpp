#include "darkscope/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace darkscope {

namespace {

std::runtime_error failure(const std::string& path, const std::string& what) {
    return std::runtime_error(path + ": " + what);
}

std::string directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_name(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string output_target_problem(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0)
        return errno == ENOENT ? "" : std::strerror(errno);
    if (S_ISREG(st.st_mode))
        return "";
    if (S_ISLNK(st.st_mode))
        return "is a symbolic link: darkscope writes only regular files, give the real path";
    if (S_ISDIR(st.st_mode))
        return "is a directory";
    return "is not a regular file (a device, FIFO or socket): darkscope writes only regular files";
}

void replace_file(const std::string& path, const std::string& content, mode_t mode) {
    if (auto why = output_target_problem(path); !why.empty())
        throw failure(path, why);
    std::string name = directory_of(path) + "/." + base_name(path) + ".XXXXXX";
    std::vector<char> tmp(name.begin(), name.end());
    tmp.push_back('\0');
    // mkostemp creates with O_CREAT|O_EXCL: a planted name, even a symbolic link, fails it.
    const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0)
        throw failure(path, std::string("cannot create a temporary file: ") + std::strerror(errno));
    const std::string tmp_path(tmp.data());
    auto fail = [&](const std::string& what) {
        const int saved = errno;
        ::close(fd);
        ::unlink(tmp_path.c_str());
        return failure(path, what + ": " + std::strerror(saved));
    };
    if (::fchmod(fd, mode) != 0)
        throw fail("cannot set the mode");
    for (size_t done = 0; done < content.size();) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw fail("cannot write");
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0)
        throw fail("cannot sync");
    if (::close(fd) != 0) {
        const int saved = errno;
        ::unlink(tmp_path.c_str());
        throw failure(path, std::string("cannot write: ") + std::strerror(saved));
    }
    // Checked again just before the rename: the target may have been replaced since.
    if (auto why = output_target_problem(path); !why.empty()) {
        ::unlink(tmp_path.c_str());
        throw failure(path, why);
    }
    if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
        const int saved = errno;
        ::unlink(tmp_path.c_str());
        throw failure(path,
                      std::string("cannot rename the temporary file: ") + std::strerror(saved));
    }
}

void prepare_output_file(const std::string& path, mode_t mode) {
    if (auto why = output_target_problem(path); !why.empty())
        throw failure(path, why);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) {
        ::close(fd);
        return;
    }
    if (errno != EEXIST)
        throw failure(path, std::string("cannot open: ") + std::strerror(errno));
    if (auto why = output_target_problem(path); !why.empty())
        throw failure(path, why);
}

}  // namespace darkscope
