#!/usr/bin/python3
"""Attribution end to end: sources drawn from known networks, databases built by the test from
the same list (range CSVs, converted here independently of darkscope), exact per-country and
per-ASN packets and bytes offline (--summary) and live (telemetry) while the databases are
reloaded every 200 ms, including reloads of a corrupt file that must keep the previous tables."""
import csv
import ipaddress
import json
import os
import shutil
import sys
import threading
import time

import dsharness as h

env = h.Env(sys.argv)
nets = os.path.join(env.tmp, "nets.csv")
pcap, truth = env.generate("attr", "--seed", "5", "--packets", "600000", "--profile", "demo",
                           "--write-networks", nets, "--source-networks", nets)
country_csv = os.path.join(env.tmp, "country.csv")
asn_csv = os.path.join(env.tmp, "asn.csv")
with open(nets) as f, open(country_csv, "w", newline="") as c, open(asn_csv, "w", newline="") as a:
    cw, aw = csv.writer(c), csv.writer(a)
    for row in csv.reader(f):
        net = ipaddress.ip_network(row[0])
        cw.writerow([net[0], net[-1], row[1]])
        aw.writerow([net[0], net[-1], row[2], row[3] if len(row) > 3 else ""])
geo = ["--geo-country", country_csv, "--geo-asn", asn_csv]
conf = os.path.join(env.src, "conf", "demo.conf")
errors = []


def check(countries, asns, what):
    out = h.compare_named(countries, truth["countries"], "country", what)
    want_asns = {k: v for k, v in truth["asns"].items()}
    out += h.compare_named(asns, want_asns, "asn", what)
    return out


# Offline.
summary = os.path.join(env.tmp, "offline.json")
env.run(env.base_args() + ["--config", conf, "--read", pcap, "--summary", summary] + geo)
with open(summary) as f:
    s = json.load(f)
errors += check(s["/darkscope/top/countries,1000"], s["/darkscope/top/asns,1000"], "offline")

# Live, with reloads under traffic: the reloader starts before the port does and reloads back to
# back, so reloads overlap the replay (which takes a fraction of a second at full speed).
summary = os.path.join(env.tmp, "live.json")
# Small bursts stretch the replay so that many reloads fall inside it.
proc = env.start(env.base_args() + ["--config", conf, "--port", "net_pcap0,rx_pcap=" + pcap,
                                    "--interval", "1", "--link-wait", "0", "--burst", "4",
                                    "--summary", summary] + geo)
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
        except (OSError, ValueError):
            time.sleep(0.05)  # the socket is not there yet
            continue
        if not isinstance(r, dict) or r.get("result") == "starting up":
            time.sleep(0.02)
            continue
        # The port's own counter moves while the replay runs (darkscope's views only move at
        # interval ends): a reload between its first and last packet happened under traffic.
        received = h.telemetry(env.prefix, "/ethdev/stats,0").get("ipackets", 0)
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
h.wait_socket(env.prefix, proc)
deadline = time.time() + 120
stats = {}
while time.time() < deadline:
    stats = h.telemetry(env.prefix, "/darkscope/stats")
    if stats.get("packets") == truth["packets"] and results["ok"] >= 3 and \
            results["bad_kept"] >= 1:
        break
    time.sleep(0.3)
stop.set()
t.join()
errors += h.compare_stats(stats, truth, "live with reloads")
if results["ok"] < 3 or results["failed"] or results["bad_kept"] < 1 or not results["during_traffic"]:
    errors.append("reloads: %s (want >= 3 ok, 0 failed, corrupt ones refused)" % results)
geo_view = h.telemetry(env.prefix, "/darkscope/geo")
print("geo:", geo_view, "reloads:", results)
countries = h.telemetry(env.prefix, "/darkscope/top/countries,100")
asns = h.telemetry(env.prefix, "/darkscope/top/asns,100")
errors += check(countries, asns, "live")
if h.stop(proc) != 0:
    errors.append("live run did not exit 0")
h.report(errors)
