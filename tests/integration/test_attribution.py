"""Attribution end to end: sources drawn from known networks, databases built by the test from
the same list (range CSVs, converted here independently of darkscope), exact per-country and
per-ASN packets and bytes offline (--summary) and live (telemetry) while the databases are
reloaded every 200 ms, including reloads of a corrupt file that must keep the previous tables."""
import os
import shutil
import threading
import time

import pytest

import darkscope_client as client
import dsharness as h


@pytest.fixture(scope="module")
def setup(env):
    """(capture, truth, geo arguments, country CSV, demo.conf)."""
    nets = os.path.join(env.tmp, "nets.csv")
    pcap, truth = env.generate("attr", "--seed", "5", "--packets", "600000", "--profile",
                               "demo", "--write-networks", nets, "--source-networks", nets)
    geo = h.geo_csvs(nets, env.tmp)
    return pcap, truth, geo, geo[1], os.path.join(env.src, "conf", "demo.conf")


@pytest.fixture(scope="module")
def offline(env, setup):
    pcap, _, geo, _, conf = setup
    summary = os.path.join(env.tmp, "offline.json")
    env.run(env.base_args() + ["--config", conf, "--read", pcap, "--summary", summary] + geo)
    s = env.summary(summary)
    return s["/darkscope/top/countries,1000"], s["/darkscope/top/asns,1000"]


# Live traffic for the reloads: the capture offered over memif by ds_paced_gen (lossless) at a
# rate that stretches it over several seconds, so that reloads, back to back, fall inside it
# whatever the machine's speed (net_pcap replays it in a fraction of a second).
LIVE_RATE = 150000  # packets per second: 600,000 packets in 4 s


@pytest.fixture(scope="module")
def live(env, setup, paced_gen):
    """Live, with reloads under traffic: the reloader starts before the port does and reloads
    back to back while the paced generator offers the capture. The final stats, the reloads'
    outcomes, the top lists, the exit status."""
    pcap, truth, geo, country_csv, conf = setup
    summary = os.path.join(env.tmp, "live.json")
    gen = h.PacedGenerator(env, paced_gen, pcap, LIVE_RATE)
    share = gen.place(conf)
    gen.start()
    proc = env.start(env.base_args() + ["--config", conf, "--port", gen.port_spec,
                                        "--interval", "1", "--link-wait", "10",
                                        "--summary", summary] + share + geo)
    results = {"ok": 0, "failed": 0, "bad_kept": 0, "during_traffic": 0}
    stop = threading.Event()

    def reloader():
        good = country_csv + ".good"
        shutil.copy(country_csv, good)
        i = 0
        while not stop.is_set():
            corrupt = i % 3 == 2
            if corrupt:
                with open(country_csv, "w") as f:
                    f.write("this,is,not\na database\n")
            try:
                r = h.telemetry(env.prefix, "/darkscope/reload")
            except client.TelemetryError:
                time.sleep(0.05)  # the socket is not there yet
                continue
            if not isinstance(r, dict) or r.get("result") == "starting up":
                time.sleep(0.02)
                continue
            # The port's own counter moves while the traffic runs (darkscope's views only
            # move at interval ends): a reload between its first and last packet happened
            # under traffic.
            received = (h.telemetry(env.prefix, "/ethdev/stats,0") or {}).get("ipackets", 0)
            if 0 < received < truth["packets"]:
                results["during_traffic"] += 1
            if corrupt:
                shutil.copy(good, country_csv)
                results["bad_kept"] += r.get("ok") == 0
            else:
                results["ok" if r.get("ok") == 1 else "failed"] += 1
                if r.get("ok") != 1:
                    print("reload failed: %r" % (r,))
            i += 1
            time.sleep(0.01)

    t = threading.Thread(target=reloader)
    t.start()
    try:
        h.wait_socket(env.prefix, proc)
        deadline = time.time() + 120
        stats = {}
        while time.time() < deadline:
            stats = h.telemetry(env.prefix, "/darkscope/stats")
            if stats.get("packets") == truth["packets"] and results["ok"] >= 3 and \
                    results["bad_kept"] >= 1:
                break
            time.sleep(0.3)
        gen.result(proc, truth["packets"])
    finally:
        stop.set()
        t.join()
    got = {"stats": stats, "reloads": results,
           "countries": h.telemetry(env.prefix, "/darkscope/top/countries,100"),
           "asns": h.telemetry(env.prefix, "/darkscope/top/asns,100")}
    print("geo:", h.telemetry(env.prefix, "/darkscope/geo"), "reloads:", results)
    got["exit"] = h.stop(proc)
    got["gen_exit"] = gen.finish()
    gen.close()
    return got


def test_offline_countries_equal_truth(offline, setup):
    h.no_errors(h.compare_named(offline[0], setup[1]["countries"], "country", "offline"))


def test_offline_asns_equal_truth(offline, setup):
    h.no_errors(h.compare_named(offline[1], setup[1]["asns"], "asn", "offline"))


def test_live_stats_equal_truth_while_reloading(live, setup):
    h.no_errors(h.compare_stats(live["stats"], setup[1], "live with reloads"))


def test_reloads_under_traffic_succeed(live):
    r = live["reloads"]
    assert r["ok"] >= 3 and not r["failed"] and r["during_traffic"], \
        "reloads: %s (want >= 3 ok, 0 failed, some during the replay)" % r


def test_corrupt_database_reload_refused(live):
    r = live["reloads"]
    assert r["bad_kept"] >= 1, "reloads: %s (want corrupt ones refused)" % r


def test_live_countries_equal_truth(live, setup):
    h.no_errors(h.compare_named(live["countries"], setup[1]["countries"], "country", "live"))


def test_live_asns_equal_truth(live, setup):
    h.no_errors(h.compare_named(live["asns"], setup[1]["asns"], "asn", "live"))


def test_sigint_exits_0(live):
    assert live["exit"] == 0, "live run did not exit 0"
