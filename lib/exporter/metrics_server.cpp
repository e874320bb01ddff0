// The /metrics endpoint: cpp-httplib serves, darkscope only renders.
#include "darkscope/metrics_server.hpp"

#include <httplib.h>

#include <charconv>
#include <chrono>

namespace darkscope {

bool parse_listen_address(const std::string& text, std::string* host, int* port) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
        return false;
    std::string h = text.substr(0, colon);
    std::string p = text.substr(colon + 1);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']')
        h = h.substr(1, h.size() - 2);
    else if (h.find(':') != std::string::npos)
        return false;  // an IPv6 address needs its brackets
    int n = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
    if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || n < 0 || n > 65535)
        return false;
    *host = h.empty() ? "0.0.0.0" : h;
    *port = n;
    return true;
}

MetricsServer::MetricsServer(std::function<std::string()> render, std::function<void()> tick)
    : render_(std::move(render)), tick_(std::move(tick)) {}

MetricsServer::~MetricsServer() {
    stop();
}

bool MetricsServer::start(const std::string& listen, std::string* error) {
    std::string host;
    int port = 0;
    if (!parse_listen_address(listen, &host, &port)) {
        *error = "'" + listen + "' is not ADDRESS:PORT";
        return false;
    }
    server_ = std::make_unique<httplib::Server>();
    // One request at a time is plenty for a scraper or two, and keeps the threads few.
    server_->new_task_queue = [] { return new httplib::ThreadPool(1); };
    server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(render_(), "text/plain; version=0.0.4; charset=utf-8");
    });
    server_->Get("/", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("darkscope: metrics at /metrics\n", "text/plain");
    });
    if (port == 0) {
        port_ = server_->bind_to_any_port(host);
        if (port_ <= 0) {
            *error = "cannot bind " + listen;
            server_.reset();
            return false;
        }
    } else if (!server_->bind_to_port(host, port)) {
        *error = "cannot bind " + listen + " (in use, or not an address of this host)";
        server_.reset();
        return false;
    } else {
        port_ = port;
    }
    serve_thread_ = std::thread([this] { server_->listen_after_bind(); });
    if (tick_)
        tick_thread_ = std::thread([this] {
            while (!stopping_.load()) {
                tick_();
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        });
    return true;
}

void MetricsServer::stop() {
    stopping_.store(true);
    if (server_)
        server_->stop();
    if (serve_thread_.joinable())
        serve_thread_.join();
    if (tick_thread_.joinable())
        tick_thread_.join();
    server_.reset();
}

}  // namespace darkscope
