"""Prometheus end to end: darkscope live on a replayed capture serves /metrics; a real Prometheus
server (Debian's prometheus) scrapes it on loopback; through Prometheus's query API the packets
summed over labels equal the generator's packets, and the per-service and per-country series
equal the truth for the top services and countries. `promtool check metrics` accepts a scrape
and `promtool check rules` the project's rules. A --metrics-listen address already in use is a
warning: capture goes on."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import dsharness as h
import pytest


def test_prometheus(env):
    prometheus = shutil.which("prometheus")
    promtool = shutil.which("promtool")
    if not prometheus or not promtool:
        print("SKIP: Debian's prometheus package (prometheus, promtool) is not installed")
        pytest.skip("see the message above")


    def free_port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port


    def http_get(url, timeout=5):
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode()


    errors = []
    nets = os.path.join(env.tmp, "nets.csv")
    pcap, truth = env.generate("prom", "--seed", "11", "--packets", "40000", "--profile", "demo",
                               "--write-networks", nets, "--source-networks", nets)
    geo = h.geo_csvs(nets, env.tmp)
    top_services = sorted(truth["services"].items(), key=lambda kv: (-kv[1]["packets"], kv[0]))[:5]
    top_countries = sorted(truth["countries"].items(), key=lambda kv: (-kv[1]["packets"], kv[0]))[:5]

    # A port already taken: darkscope says so and captures anyway.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    busy = env.start(env.base_args("%sb" % env.prefix) + [
        "--config", os.path.join(env.src, "conf", "demo.conf"),
        "--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1", "--link-wait", "0",
        "--metrics-listen", "127.0.0.1:%d" % taken.getsockname()[1]])
    h.wait_socket("%sb" % env.prefix, busy)
    stats = h.wait_packets("%sb" % env.prefix, truth["packets"], timeout=90)
    if stats.get("packets") != truth["packets"]:
        errors.append("with the metrics port taken, capture counted %s of %d packets"
                      % (stats.get("packets"), truth["packets"]))
    rc = h.stop(busy)
    taken.close()
    if rc != 0:
        errors.append("with the metrics port taken: exit status %d" % rc)

    metrics_port = free_port()
    proc = env.start(env.base_args() + geo + [
        "--config", os.path.join(env.src, "conf", "demo.conf"),
        "--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1", "--link-wait", "0",
        "--metrics-listen", "127.0.0.1:%d" % metrics_port,
        "--metrics-services", ",".join(k for k, _ in top_services)])
    h.wait_socket(env.prefix, proc)
    h.wait_packets(env.prefix, truth["packets"], timeout=90)

    # promtool check metrics on one scrape.
    scrape = http_get("http://127.0.0.1:%d/metrics" % metrics_port)
    p = subprocess.run([promtool, "check", "metrics"], input=scrape, capture_output=True, text=True)
    if p.returncode != 0:
        errors.append("promtool check metrics: %s%s" % (p.stdout, p.stderr))
    rules = os.path.join(env.src, "conf", "prometheus", "darkscope-rules.yml")
    p = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True)
    if p.returncode != 0:
        errors.append("promtool check rules: %s%s" % (p.stdout, p.stderr))

    # A real Prometheus scraping it every second.
    prom_port = free_port()
    prom_dir = os.path.join(env.tmp, "prometheus")
    os.makedirs(prom_dir)
    config = os.path.join(prom_dir, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: darkscope\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % metrics_port)
    log = open(os.path.join(prom_dir, "prometheus.log"), "w")
    server = subprocess.Popen([prometheus, "--config.file=" + config,
                               "--storage.tsdb.path=" + os.path.join(prom_dir, "data"),
                               "--web.listen-address=127.0.0.1:%d" % prom_port],
                              stdout=log, stderr=subprocess.STDOUT)
    import atexit  # noqa: E402
    atexit.register(lambda: server.poll() is None and server.kill())


    def query(expr):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (prom_port,
                                                       urllib.parse.urlencode({"query": expr}))
        reply = json.loads(http_get(url))
        if reply.get("status") != "success":
            raise RuntimeError("query %s: %r" % (expr, reply))
        return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1])
                for r in reply["data"]["result"]}


    def scalar(expr):
        values = list(query(expr).values())
        return values[0] if values else None


    # Two scrapes at least, the later ones after every packet was counted.
    deadline = time.time() + 90
    scrapes = None
    while time.time() < deadline:
        try:
            scrapes = scalar('count_over_time(up{job="darkscope"}[5m])')
            if scrapes is not None and scrapes >= 2 and \
                    scalar("sum(darkscope_packets_total)") == truth["packets"]:
                break
        except (OSError, ValueError, RuntimeError):
            pass
        time.sleep(0.5)
    if scrapes is None or scrapes < 2:
        errors.append("Prometheus scraped darkscope %s times in 90 s" % scrapes)
    total = scalar("sum(darkscope_packets_total)")
    if total != truth["packets"]:
        errors.append("sum(darkscope_packets_total) = %s, truth %d" % (total, truth["packets"]))
    if scalar('up{job="darkscope"}') != 1:
        errors.append("up{job=darkscope} is not 1")
    for service, counts in top_services:
        got = scalar('darkscope_service_packets_total{service="%s"}' % service)
        if got != counts["packets"]:
            errors.append("service %s: %s packets, truth %d" % (service, got, counts["packets"]))
    probe_total = sum(v["packets"] for v in truth["services"].values())
    got = scalar("sum(darkscope_service_packets_total)")
    if got != probe_total:
        errors.append("sum of darkscope_service_packets_total %s, truth %d" % (got, probe_total))
    for country, counts in top_countries:
        got = scalar('darkscope_country_packets_total{country="%s"}' % country)
        if got != counts["packets"]:
            errors.append("country %s: %s packets, truth %d" % (country, got, counts["packets"]))
    # Every label's values stay bounded: no source address or ASN label anywhere.
    for name in ("source", "asn", "address"):
        if query('{__name__=~"darkscope_.*", %s!=""}' % name):
            errors.append("a darkscope metric has a %s label" % name)

    server.terminate()
    server.wait(timeout=30)
    rc = h.stop(proc)
    if rc != 0:
        errors.append("exit status after SIGINT: %d" % rc)
    h.no_errors(errors)
