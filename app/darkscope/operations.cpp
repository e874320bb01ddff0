#include "operations.hpp"

#include <pthread.h>
#include <rte_log.h>

#include <csignal>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>

#include <unistd.h>

#ifndef DARKSCOPE_VERSION
#define DARKSCOPE_VERSION "unknown"
#endif

namespace darkscope {

namespace {

ServiceLabelPolicy label_policy(const Config& config) {
    ServiceLabelPolicy p;
    p.watch = config.metrics_services;
    p.top_n = config.metrics_top;
    p.cap = config.metrics_service_cap;
    return p;
}

}  // namespace

Operations::Operations(const Config& config, Engine& engine, std::function<ExporterInfo()> info)
    : config_(config),
      engine_(engine),
      info_(std::move(info)),
      exporter_(label_policy(config)),
      started_s_(now_seconds()) {
    std::string listening = "metrics off";
    if (config.metrics_listen != "off") {
        server_ = std::make_unique<MetricsServer>(
            [this] {
                return exporter_.render(engine_.snapshot(), info_(), now_seconds(), started_s_);
            },
            [this] { exporter_.observe(engine_.snapshot()); });
        std::string error;
        if (server_->start(config.metrics_listen, &error)) {
            listening = "metrics on http://" + config.metrics_listen + "/metrics";
            RTE_LOG(NOTICE, USER1, "%s\n", listening.c_str());
        } else {
            RTE_LOG(WARNING, USER1, "--metrics-listen: %s; going on without metrics\n",
                    error.c_str());
            server_.reset();
            listening = "metrics not served";
        }
    }
    // A test switch: the stats loop wedges once this file exists, so the watchdog's pings stop
    // as they would on a real hang (docs/operations.md).
    if (const char* stall = std::getenv("DARKSCOPE_FAULT_STALL_STATS_FILE"))
        stall_file_ = stall;
    engine_.set_stats_tick([this](double now) {
        if (!stall_file_.empty() && access(stall_file_.c_str(), F_OK) == 0) {
            RTE_LOG(WARNING, USER1, "fault injection: the stats loop stalls until stopped\n");
            while (!control_flags().stop.load())
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            stall_file_.clear();
        }
        watchdog_.tick(now);
    });
    if (watchdog_.enabled())
        RTE_LOG(NOTICE, USER1, "systemd watchdog: pinging every %.3g s\n",
                watchdog_.period_s() / 2);
    notify_ready("capturing; " + listening);
}

Operations::~Operations() {
    stopping();
}

void Operations::stopping() {
    if (stopped_)
        return;
    stopped_ = true;
    engine_.set_stats_tick(nullptr);
    notify_stopping();
    if (server_) {
        server_->stop();
        server_.reset();
    }
}

namespace {

sigset_t control_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

bool pending(int sig) {
    sigset_t set;
    sigemptyset(&set);
    return sigpending(&set) == 0 && sigismember(&set, sig) == 1;
}

}  // namespace

void hold_signals_at_start_up() {
    install_signal_handlers();
    sigset_t set = control_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

bool stop_requested_at_start_up(const char* stage, bool eal_running) {
    if (!control_flags().stop.load() && !pending(SIGTERM) && !pending(SIGINT))
        return false;
    if (eal_running)
        RTE_LOG(NOTICE, USER1, "stop signal during start-up (%s): exiting\n", stage);
    else
        std::fprintf(stderr, "darkscope: stop signal during start-up (%s): exiting\n", stage);
    return true;
}

void take_signals_now() {
    if (pending(SIGHUP))
        RTE_LOG(NOTICE, USER1,
                "SIGHUP during start-up: kept; the attribution databases reload now\n");
    sigset_t set = control_signals();
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

std::string darkscope_version() {
    return DARKSCOPE_VERSION;
}

std::string base_name(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

double date_epoch(const std::string& date) {
    struct tm t {};
    if (date.size() < 10 || strptime(date.substr(0, 10).c_str(), "%Y-%m-%d", &t) == nullptr)
        return 0;
    return static_cast<double>(timegm(&t));
}

}  // namespace darkscope
