"""Live mode on a net_pcap replay: telemetry answers the generator's truth exactly, SIGINT stops
cleanly (exit 0) and flushes the last partial interval into the summary."""
import os

import pytest

import dsharness as h


@pytest.fixture(scope="module")
def live(env):
    """What the live darkscope answered once it had counted the capture, its exit status after
    SIGINT and the summary it wrote then."""
    pcap, truth = env.generate("live", "--seed", "7", "--packets", "20000", "--profile", "demo")
    summary = os.path.join(env.tmp, "summary.json")
    proc = env.start(env.base_args() + [
        "--config", os.path.join(env.src, "conf", "demo.conf"),
        "--port", "net_pcap0,rx_pcap=" + pcap, "--interval", "1", "--link-wait", "0",
        "--summary", summary])
    h.wait_socket(env.prefix, proc)
    got = {"truth": truth, "stats": h.wait_packets(env.prefix, truth["packets"], timeout=90)}
    got["top"] = h.telemetry(env.prefix, "/darkscope/top/ports,20")
    got["sensor_top"] = {sensor: h.telemetry(env.prefix,
                                             "/darkscope/top/ports,10,total,sensor=" + sensor)
                         for sensor in truth["sensor_services"]}
    got["last"] = h.telemetry(env.prefix, "/darkscope/top/ports,5,last")
    got["too_many"] = h.telemetry(env.prefix, "/darkscope/top/ports,100000")
    got["workers"] = h.telemetry(env.prefix, "/darkscope/workers")
    got["exit"] = h.stop(proc)
    got["summary"] = env.summary(summary)
    return got


def test_stats_equal_truth(live):
    h.no_errors(h.compare_stats(live["stats"], live["truth"], "live stats"))


def test_top_ports_equal_truth(live):
    h.no_errors(h.compare_top_ports(live["top"], live["truth"]["services"], "live top 20", n=20))


def test_top_ports_per_sensor_equal_truth(live):
    errors = []
    for sensor, services in live["truth"]["sensor_services"].items():
        errors += h.compare_top_ports(live["sensor_top"][sensor], services,
                                      "live top 10 at " + sensor, n=10)
    h.no_errors(errors)


def test_last_window_is_a_list(live):
    assert isinstance(h.ranked(live["last"]), list), "top/ports,5,last: not a list: %r" % (
        live["last"],)


def test_n_over_the_cap_refused(live):
    bad = live["too_many"]
    assert isinstance(bad, dict) and "error" in bad, \
        "top/ports,100000 should be refused with an error, got %r" % (bad,)


def test_workers_counted_every_packet(live):
    workers = h.ranked(live["workers"])
    assert sum(w["packets"] for w in workers) == live["truth"]["packets"], \
        "workers' packets %s != %d" % (workers, live["truth"]["packets"])


def test_sigint_exits_0(live):
    assert live["exit"] == 0, "exit status after SIGINT: %d" % live["exit"]


def test_summary_on_sigint_equals_truth(live):
    h.no_errors(h.compare_stats(live["summary"]["/darkscope/stats"], live["truth"],
                                "live summary"))
