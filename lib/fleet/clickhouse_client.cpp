// ClickHouse's HTTP interface with libcurl: the query in the URL, the rows in the POST body,
// the credentials as HTTP basic authentication (never in a URL that could reach a log).
#include "clickhouse_client.hpp"

#include <curl/curl.h>

#include <chrono>
#include <mutex>
#include <stdexcept>

namespace darkscope {

namespace {

size_t append(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

// Non-zero ends the transfer (CURLE_ABORTED_BY_CALLBACK) once the stop's deadline has passed.
int past_deadline(void* abandon_at, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    const int64_t at = static_cast<const std::atomic<int64_t>*>(abandon_at)->load();
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    return at != 0 && now >= at ? 1 : 0;
}

std::string first_line(std::string s) {
    const size_t nl = s.find('\n');
    if (nl != std::string::npos)
        s.resize(nl);
    if (s.size() > 300)
        s.resize(300);
    return s;
}

}  // namespace

ClickHouseClient::ClickHouseClient(const FleetSettings& settings) : settings_(settings) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (curl_ == nullptr)
        throw std::runtime_error("fleet: curl_easy_init failed");
}

ClickHouseClient::~ClickHouseClient() {
    curl_easy_cleanup(static_cast<CURL*>(curl_));
}

bool ClickHouseClient::run(const std::string& sql, const std::string& body, std::string& response,
                           std::string& error) {
    CURL* c = static_cast<CURL*>(curl_);
    char* q = curl_easy_escape(c, sql.c_str(), static_cast<int>(sql.size()));
    const std::string url =
        settings_.url + "?database=" + settings_.database + "&insert_distributed_sync=1&query=" + q;
    curl_free(q);
    response.clear();
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (abandon_at_ != nullptr) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, past_deadline);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<int64_t>*>(abandon_at_));
    }
    if (!settings_.user.empty()) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, settings_.user.c_str());
        curl_easy_setopt(c, CURLOPT_PASSWORD, settings_.password.c_str());
    }
    const CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        error = "delivery abandoned at the stop's deadline";
        return false;
    }
    if (rc != CURLE_OK) {
        error = std::string("ClickHouse unreachable: ") + curl_easy_strerror(rc);
        return false;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        error = "ClickHouse answered HTTP " + std::to_string(status) + ": " + first_line(response);
        return false;
    }
    bytes_sent_ += body.size();
    return true;
}

}  // namespace darkscope
