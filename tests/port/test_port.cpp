// lib/port without EAL: finding the process that holds a --file-prefix (EAL's write lock on
// <runtime dir>/config), which eal_start() reports instead of EAL's "Success".
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "darkscope/port.hpp"

using namespace darkscope;

namespace {

class PrefixLockTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/darkscope-port-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        config_ = dir_ + "/config";
        std::ofstream(config_) << std::string(4096, '\0');
    }
    void TearDown() override {
        if (child_ > 0) {
            kill(child_, SIGKILL);
            waitpid(child_, nullptr, 0);
        }
        std::system(("rm -rf '" + dir_ + "'").c_str());
    }

    // A child process that write-locks a range of the file as an EAL primary does, and waits.
    void lock_in_child(off_t start, off_t len) {
        int ready[2];
        ASSERT_EQ(pipe(ready), 0);
        child_ = fork();
        ASSERT_GE(child_, 0);
        if (child_ == 0) {
            int fd = open(config_.c_str(), O_RDWR);
            struct flock lock {};
            lock.l_type = F_WRLCK;
            lock.l_whence = SEEK_SET;
            lock.l_start = start;
            lock.l_len = len;
            char ok = fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0 ? 'y' : 'n';
            (void)!write(ready[1], &ok, 1);
            pause();
            _exit(0);
        }
        close(ready[1]);
        char ok = 0;
        ASSERT_EQ(read(ready[0], &ok, 1), 1);
        close(ready[0]);
        ASSERT_EQ(ok, 'y');
    }

    std::string dir_, config_;
    pid_t child_ = -1;
};

TEST_F(PrefixLockTest, NoHolder) {
    EXPECT_EQ(config_lock_holder(config_), 0);
    EXPECT_EQ(config_lock_holder(dir_ + "/missing"), 0);
}

TEST_F(PrefixLockTest, HolderOfPartOfTheFileIsFound) {
    lock_in_child(128, 1024);  // EAL locks the memsegs part of struct rte_mem_config only
    EXPECT_EQ(config_lock_holder(config_), child_);
}

TEST_F(PrefixLockTest, OwnLockIsNotAnotherProcess) {
    int fd = open(config_.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    ASSERT_EQ(fcntl(fd, F_SETLK, &lock), 0);
    EXPECT_EQ(config_lock_holder(config_), 0);
    close(fd);
}

TEST(EalRuntimeDir, AsEalMakesIt) {
    std::string dir = eal_runtime_dir("cfgtest");
    if (geteuid() == 0 && getuid() == 0)
        EXPECT_EQ(dir, "/var/run/dpdk/cfgtest");
    else
        EXPECT_EQ(dir.substr(dir.size() - 13), "/dpdk/cfgtest");
}

}  // namespace
