// EventHook: the configured command, run with an event's JSON on stdin by one background
// thread, so a slow or hanging command never holds up the stats core.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include "darkscope/events.hpp"

extern char** environ;

namespace darkscope {

namespace {

constexpr int kLogError = 3, kLogWarning = 4;

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

// Clears a SIGPIPE left pending on this thread by a write to a closed pipe (SIGPIPE is blocked
// on the hook thread, so the write fails with EPIPE instead of killing the process).
void consume_sigpipe() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    timespec zero{};
    while (sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
    }
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) {
        return "exit status " + std::to_string(WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return std::string("signal ") + strsignal(WTERMSIG(status));
    }
    return "status " + std::to_string(status);
}

}  // namespace

EventHook::EventHook(std::string command, double timeout_s,
                     std::function<void(int, const std::string&)> log, size_t queue_limit)
    : command_(std::move(command)),
      timeout_s_(timeout_s > 0 ? timeout_s : 5.0),
      log_(std::move(log)),
      queue_limit_(queue_limit ? queue_limit : 1) {
    thread_ = std::thread([this] { run_loop(); });
}

EventHook::~EventHook() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_cv_.notify_all();
    thread_.join();
}

void EventHook::submit(const Event& event) {
    submit(event.json());
}

void EventHook::submit(std::string json) {
    bool dropped = false;
    {
        std::lock_guard lock(mutex_);
        ++stats_.submitted;
        if (stopping_ || queue_.size() >= queue_limit_) {
            ++stats_.drops;
            dropped = true;
        } else {
            queue_.push_back(std::move(json));
        }
    }
    if (dropped) {
        log(kLogWarning, "event hook: queue full (" + std::to_string(queue_limit_) +
                             " events waiting), an event was not passed to the hook");
        return;
    }
    work_cv_.notify_one();
}

void EventHook::flush() {
    std::unique_lock lock(mutex_);
    idle_cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

size_t EventHook::flush_until(std::chrono::steady_clock::time_point by) {
    std::unique_lock lock(mutex_);
    if (idle_cv_.wait_until(lock, by, [this] { return queue_.empty() && !busy_; }))
        return 0;
    // Out of time: the command under way is killed (run_one looks at cut_ every 100 ms) and
    // what is queued is not run.
    const size_t left = queue_.size() + (busy_ ? 1 : 0);
    stats_.drops += queue_.size();
    queue_.clear();
    cut_.store(true);
    idle_cv_.wait(lock, [this] { return !busy_; });
    return left;
}

EventHook::Stats EventHook::stats() const {
    std::lock_guard lock(mutex_);
    Stats s = stats_;
    s.queue_depth = queue_.size();
    return s;
}

void EventHook::log(int level, const std::string& message) const {
    if (log_) {
        log_(level, message);
    }
}

void EventHook::run_loop() {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, nullptr);

    using Clock = std::chrono::steady_clock;
    std::optional<Clock::time_point> shutdown_deadline;
    std::unique_lock lock(mutex_);
    for (;;) {
        work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
            break;  // stopping and nothing left
        }
        if (stopping_) {
            // Events produced at shutdown (the `end` phases) still reach the hook, but a hook
            // that keeps timing out cannot hold the process for long.
            if (!shutdown_deadline) {
                shutdown_deadline =
                    Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(2 * timeout_s_));
            }
            if (Clock::now() >= *shutdown_deadline) {
                stats_.drops += queue_.size();
                size_t n = queue_.size();
                queue_.clear();
                lock.unlock();
                log(kLogWarning, "event hook: " + std::to_string(n) +
                                     " events not passed to the hook at shutdown");
                lock.lock();
                break;
            }
        }
        std::string json = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        lock.unlock();
        run_one(json);
        lock.lock();
        busy_ = false;
        if (queue_.empty()) {
            idle_cv_.notify_all();
        }
    }
    busy_ = false;
    idle_cv_.notify_all();
}

void EventHook::run_one(const std::string& json) {
    using Clock = std::chrono::steady_clock;
    auto count = [this](uint64_t Stats::*field) {
        std::lock_guard lock(mutex_);
        ++(stats_.*field);
    };
    count(&Stats::runs);

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        count(&Stats::failures);
        log(kLogError, std::string("event hook: pipe: ") + strerror(errno));
        return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);  // dup2 clears close-on-exec
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group, so a timeout kills whatever the shell started too; default signal
    // handling and an empty mask, not the hook thread's.
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t empty, defaults;
    sigemptyset(&empty);
    posix_spawnattr_setsigmask(&attr, &empty);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);

    std::string sh = "sh", dash_c = "-c";
    char* argv[] = {sh.data(), dash_c.data(), command_.data(), nullptr};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(fds[0]);
    if (rc != 0) {
        close(fds[1]);
        count(&Stats::failures);
        log(kLogError, "event hook: cannot start /bin/sh: " + std::string(strerror(rc)));
        return;
    }

    int write_fd = fds[1];
    fcntl(write_fd, F_SETFL, fcntl(write_fd, F_GETFL) | O_NONBLOCK);
    int pidfd = open_pidfd(pid);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(timeout_s_));
    size_t written = 0;
    bool exited = false;
    int status = 0;
    while (!exited) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0 || cut_.load()) {
            break;
        }
        pollfd pfd[2];
        nfds_t n = 0;
        int pid_slot = -1, write_slot = -1;
        if (pidfd >= 0) {
            pid_slot = static_cast<int>(n);
            pfd[n++] = {pidfd, POLLIN, 0};
        }
        if (write_fd >= 0) {
            write_slot = static_cast<int>(n);
            pfd[n++] = {write_fd, POLLOUT, 0};
        }
        // Without a pidfd (old kernels) poll in short steps and ask waitpid.
        // In steps of 100 ms at most, so that flush_until() cuts a command short promptly.
        int wait_ms = pidfd >= 0 ? static_cast<int>(std::min<int64_t>(left.count(), 100))
                                 : static_cast<int>(std::min<int64_t>(left.count(), 10));
        int ready =
            n ? poll(pfd, n, wait_ms) : (usleep(static_cast<useconds_t>(wait_ms) * 1000), 0);
        if (ready < 0 && errno != EINTR) {
            break;
        }
        if (write_slot >= 0 && (pfd[write_slot].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(write_fd, json.data() + written, json.size() - written);
            if (w > 0) {
                written += static_cast<size_t>(w);
            }
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == json.size()) {
                if (w < 0 && errno == EPIPE) {
                    consume_sigpipe();  // the command did not read its stdin: its choice
                }
                close(write_fd);
                write_fd = -1;
            }
        }
        if (pidfd < 0 || (pid_slot >= 0 && (pfd[pid_slot].revents & POLLIN))) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                exited = true;
            }
        }
    }
    if (write_fd >= 0) {
        close(write_fd);
    }
    if (!exited) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (cut_.load()) {
            count(&Stats::failures);
            log(kLogWarning,
                "event hook: `" + command_ + "` still running at the stop's deadline: killed");
        } else {
            count(&Stats::timeouts);
            log(kLogWarning, "event hook: `" + command_ + "` still running after " +
                                 std::to_string(timeout_s_) + " s: killed");
        }
    } else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        count(&Stats::failures);
        log(kLogWarning, "event hook: `" + command_ + "` failed: " + describe_status(status));
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
}

}  // namespace darkscope
