#!/usr/bin/python3
"""Tests for scripts/darkscope-report against a history written by the real HistoryStore.

    test_report.py numbers|browser --writer report_history_writer --report darkscope-report
                   --artifacts DIR

The plan below (traffic per day, sensor, country and service) is the truth: the expected tables
are computed from it here, independently of the report's own code.
"""

import argparse
import csv
import datetime as dt
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

DAY = 86400
HOUR = 3600
SKIP = 77


def day0(text):
    return int(dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc).timestamp())


CURRENT = day0("2024-01-01")
DAYS = 91  # 2024-01-01 .. 2024-03-31
PREVIOUS = CURRENT - DAYS * DAY
SENSORS = {"tokyo-a": 1.0, "tokyo-b": 0.8, "osaka": 0.6}
SERVICES = {  # per-day weight in the previous and the current period
    "445/tcp": (700, 1000), "23/tcp": (1100, 800), "22/tcp": (400, 500),
    "3389/tcp": (200, 300), "80/tcp": (380, 250), "53/udp": (120, 120),
    "5555/tcp": (320, 40), "8080/tcp": (60, 60), "21318/tcp": (0, 300), "1433/tcp": (30, 30),
    "icmp": (20, 20), "123/udp": (10, 10),
}
COUNTRIES = (
    {"CN": .30, "US": .28, "RU": .10, "BR": .10, "DE": .09, "NL": .07, "JP": .03, "KR": .03},
    {"US": .30, "CN": .25, "RU": .12, "NL": .10, "DE": .08, "BR": .07, "JP": .04, "KR": .04},
)
SURGE_DAYS = range(40, 45)  # 53/udp at ten times its level, 2024-02-10 .. 2024-02-14
TOP_K = {"service": 10, "country": 10, "sensor": 10}
CROSS_K = 40


def cells_for_day(rng, day_start):
    """{(sensor, country, service): packets} for one day."""
    current = day_start >= CURRENT
    index = int((day_start - CURRENT) // DAY)
    countries = COUNTRIES[int(current)]
    cells = {}
    for service, weights in SERVICES.items():
        weight = weights[int(current)]
        if current and service == "53/udp" and index in SURGE_DAYS:
            weight *= 10
        for sensor, factor in SENSORS.items():
            if service == "21318/tcp" and sensor != "tokyo-b":
                continue
            for country, share in countries.items():
                if service == "21318/tcp":  # the scan from Japan at one sensor
                    share = 0.9 if country == "JP" else 0.1 / (len(countries) - 1)
                packets = int(round(weight * factor * share * rng.uniform(0.8, 1.2) * 10))
                if packets:
                    cells[(sensor, country, service)] = packets
    return cells


def split(cells, parts):
    """The same cells spread over `parts` sub-periods (integer packets, exact sum)."""
    out = [dict() for _ in range(parts)]
    for key, packets in cells.items():
        base, extra = divmod(packets, parts)
        for i in range(parts):
            p = base + (1 if i < extra else 0)
            if p:
                out[i][key] = p
    return out


def rows_of(cells):
    dims = {}

    def add(dim, key, p):
        dims.setdefault(dim, {})
        dims[dim][key] = dims[dim].get(key, 0) + p

    for (sensor, country, service), p in cells.items():
        add("total", "all", p)
        add("service", service, p)
        add("country", country, p)
        add("sensor", sensor, p)
        add("sensor_service", f"{sensor}|{service}", p)
        add("country_service", f"{country}|{service}", p)
        add("sensor_country", f"{sensor}|{country}", p)
    rows = []
    for dim, keys in dims.items():
        k = 1 if dim == "total" else TOP_K.get(dim, CROSS_K)
        ordered = sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))
        for key, p in ordered[:k]:
            rows.append((dim, key, p, p * 60, max(1, p // 7), max(1, p // 3), max(1, p // 50)))
        rest = sum(p for _, p in ordered[k:])
        if rest:
            rows.append((dim, "other", rest, rest * 60, 0, 0, 0))
    return rows


def build_plan():
    """(plan lines, {day start: cells}) for the previous and the current period."""
    rng = random.Random(20240101)
    lines, days = [], {}

    def period(res, start, length, cells):
        lines.append(f"period\t{res}\t{start}\t{length}")
        for r in rows_of(cells):
            lines.append("row\t" + "\t".join(str(x) for x in r))

    for d in range(-DAYS, DAYS):
        start = CURRENT + d * DAY
        cells = cells_for_day(rng, start)
        days[start] = cells
        if d == DAYS - 1:
            # The last day only as hours, its first hour only as 5-minute intervals.
            hours = split(cells, 24)
            for h, hour_cells in enumerate(hours):
                if h == 0:
                    for i, c in enumerate(split(hour_cells, 12)):
                        period("interval", start + i * 300, 300, c)
                else:
                    period("hour", start + h * HOUR, HOUR, hour_cells)
            continue
        period("day", start, DAY, cells)
        if d == 5:  # a day stored both as a day and as hours: never counted twice
            for h, hour_cells in enumerate(split(cells, 24)):
                period("hour", start + h * HOUR, HOUR, hour_cells)
    surge_start = CURRENT + SURGE_DAYS[0] * DAY
    surge_end = CURRENT + (SURGE_DAYS[-1] + 1) * DAY
    surge = ('{"dimension":"service","key":"53/udp","start":%d,"end":%d,"factor":10,'
             '"packets":54000,"sources":1234,"countries":["US","CN","RU"]}'
             % (surge_start, surge_end))
    lines.append(f"event\tsurge-1\tsurge\tstart\t{surge_start}\t{surge}")
    lines.append(f"event\tsurge-1\tsurge\tupdate\t{surge_start + DAY}\t{surge}")
    lines.append(f"event\tsurge-1\tsurge\tend\t{surge_end}\t{surge}")
    dos_start = CURRENT + 60 * DAY + 5 * HOUR
    dos = ('{"victim":"192.0.2.10","country":"JP","asn":64500,"vector":"SYN flood <80/tcp> & co",'
           '"packets":5000,"peak_ppm":900,"start":%d,"end":%d}' % (dos_start, dos_start + 7200))
    lines.append(f"event\tdos-1\tdos\tstart\t{dos_start}\t{dos}")
    lines.append(f"event\tdos-1\tdos\tend\t{dos_start + 7200}\t{dos}")
    old = '{"dimension":"service","key":"23/tcp","factor":4,"start":%d}' % (PREVIOUS + DAY)
    lines.append(f"event\told-1\tsurge\tstart\t{PREVIOUS + DAY}\t{old}")
    return lines, days


def truth_top(days, start, end, index, previous):
    """Ranked [(key, packets)] of one field of the cells (1 country, 2 service)."""
    def totals(a, b):
        t = {}
        for day, cells in days.items():
            if a <= day < b:
                for key, p in cells.items():
                    t[key[index]] = t.get(key[index], 0) + p
        return sorted(t.items(), key=lambda kv: (-kv[1], kv[0]))
    now = totals(start, end)
    before = {k: i + 1 for i, (k, _) in enumerate(totals(*previous))}
    return now, before


class Failures:
    def __init__(self):
        self.count = 0

    def check(self, ok, message):
        if not ok:
            self.count += 1
            print(f"FAIL: {message}")
        return ok

    def equal(self, got, want, message):
        return self.check(got == want, f"{message}: got {got!r}, want {want!r}")


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def md_section_table(md, heading):
    """Rows (lists of cells) of the first table under a '## heading'."""
    part = md.split(f"## {heading}", 1)
    if len(part) < 2:
        return None
    rows = []
    for line in part[1].split("\n## ", 1)[0].splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows[1:]  # without the header


def run_report(report, args):
    return subprocess.run([sys.executable if report.endswith(".py") else "/usr/bin/python3",
                           report] + args, capture_output=True, text=True, timeout=300)


def make_history(writer, workdir):
    lines, days = build_plan()
    db = os.path.join(workdir, "history.db")
    r = subprocess.run([writer, db], input="\n".join(lines) + "\n", capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit(f"history writer failed: {r.stderr}")
    return db, days


def shipped_config_db(report):
    """The `db = FILE` of conf/darkscope.conf beside the report's scripts/ directory."""
    conf = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(report))), "conf",
                        "darkscope.conf")
    with open(conf) as cf:
        for line in cf:
            m = re.match(r"\s*db\s*=\s*(\S+)\s*$", line)
            if m:
                return m.group(1)
    return None


def expected_rank_change(rank, before):
    if before is None:
        return "new"
    d = before - rank
    return f"+{d}" if d > 0 else str(d)


def check_top(f, out, days, start, end, name, csv_name, index, key_column, md_heading,
              label=lambda k: k):
    length = end - start
    now, before = truth_top(days, start, end, index, (start - length, start))
    want = now[:5]
    total = sum(p for _, p in now)
    got = read_csv(os.path.join(out, csv_name))
    f.equal([r[key_column] for r in got], [k for k, _ in want], f"{name}: top 5 order")
    f.equal([int(r["packets"]) for r in got], [p for _, p in want], f"{name}: packets")
    f.equal([r["previous_rank"] for r in got], [str(before.get(k, "")) for k, _ in want],
            f"{name}: previous ranks")
    f.equal([r["rank_change"] for r in got],
            [expected_rank_change(i + 1, before.get(k)) for i, (k, _) in enumerate(want)],
            f"{name}: rank change")
    for r, (k, p) in zip(got, want):
        f.check(abs(float(r["share"]) - p / total) < 1e-6, f"{name}: share of {k}")
    if length > 3 * DAY:
        # Unique sources: the busiest stored day's count (the plan stores packets // 7),
        # never a sum. The last day is stored as hours only, so it has no day count.
        for r, (k, _) in zip(got, want):
            per_day = [sum(p for key, p in cells.items() if key[index] == k)
                       for day, cells in days.items() if start <= day < end - DAY]
            f.equal(r["max_sources"], str(max(1, max(per_day) // 7)), f"{name}: sources of {k}")
            f.equal(r["max_sources_per"], "day", f"{name}: sources per day")
    md = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    table = md_section_table(md, md_heading)
    if f.check(table is not None, f"{name}: report.md has '{md_heading}'"):
        f.equal([row[1] for row in table], [label(k) for k, _ in want], f"{name}: report.md keys")
        f.equal([int(row[2].replace(",", "")) for row in table], [p for _, p in want],
                f"{name}: report.md packets")
        f.equal([row[5] for row in table],
                [expected_rank_change(i + 1, before.get(k)) for i, (k, _) in enumerate(want)],
                f"{name}: report.md rank change")
    return want


def test_numbers(args):
    f = Failures()
    work = tempfile.mkdtemp(prefix="darkscope-report-test-")
    try:
        db, days = make_history(args.writer, work)
        out = os.path.join(work, "quarter")
        title = "Q1 <script>alert('x')</script> & co"
        r = run_report(args.report, ["--from", "2024-01-01", "--to", "2024-03-31", "--db", db,
                                     "--out", out, "--title", title])
        if not f.check(r.returncode == 0, f"quarter report failed: {r.stderr}"):
            return 1
        end = CURRENT + DAYS * DAY
        services = check_top(f, out, days, CURRENT, end, "services", "services.csv", 2,
                             "service", "Top 5 destination services")
        names = {"US": "United States", "CN": "China", "RU": "Russia", "NL": "Netherlands",
                 "DE": "Germany", "BR": "Brazil", "JP": "Japan", "KR": "South Korea"}
        check_top(f, out, days, CURRENT, end, "regions", "regions.csv", 1, "country",
                  "Top 5 source regions", lambda k: f"{names[k]} ({k})")
        for r in read_csv(os.path.join(out, "regions.csv")):
            f.equal(r["name"], names[r["country"]], "region name")

        # Per sensor: top 10 and what stands out (share >= 5% and >= 3x the others' share).
        per = {}
        for cells in (c for d, c in days.items() if CURRENT <= d < end):
            for (sensor, _, service), p in cells.items():
                per.setdefault(sensor, {})
                per[sensor][service] = per[sensor].get(service, 0) + p
        got = read_csv(os.path.join(out, "sensors.csv"))
        all_total = sum(sum(s.values()) for s in per.values())
        for sensor, services_here in per.items():
            total = sum(services_here.values())
            want = sorted(services_here.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            rows = [r for r in got if r["sensor"] == sensor]
            f.equal([(r["service"], int(r["packets"])) for r in rows], want, f"sensor {sensor}")
            for r in rows:
                share = int(r["packets"]) / total
                elsewhere = sum(per[s].get(r["service"], 0) for s in per if s != sensor)
                other_share = elsewhere / (all_total - total)
                want_flag = share >= 0.05 and share >= 3 * other_share
                f.equal(r["stands_out"], str(int(want_flag)),
                        f"stands out {sensor} {r['service']}")
        flagged = [(r["sensor"], r["service"]) for r in got if r["stands_out"] == "1"]
        f.check(("tokyo-b", "21318/tcp") in flagged, f"21318/tcp at tokyo-b flagged: {flagged}")

        # Events: the two of this quarter, in time order, with the analyst's sentence.
        events = read_csv(os.path.join(out, "events.csv"))
        f.equal([e["event_id"] for e in events], ["surge-1", "dos-1"], "events in order")
        if events:
            f.equal(events[0]["sentence"],
                    "From 10 February to 14 February, packets to 53/udp rose to 10 times their "
                    "usual level, from 1,234 sources in 3 countries (54,000 packets).",
                    "surge sentence")
            f.check("192.0.2.10 (Japan, AS64500)" in events[1]["sentence"], "dos sentence")
        # Charts: one per service, region and event, real PNGs, all embedded in the HTML.
        charts = sorted(os.listdir(os.path.join(out, "charts")))
        f.equal(len(charts), 5 + 5 + 2, f"charts {charts}")
        for c in charts:
            with open(os.path.join(out, "charts", c), "rb") as png:
                f.check(png.read(8) == b"\x89PNG\r\n\x1a\n", f"{c} is a PNG")
        page = open(os.path.join(out, "report.html"), encoding="utf-8").read()
        f.equal(page.count('src="data:image/png;base64,'), len(charts), "embedded charts")
        f.check("<script" not in page, "title escaped in the HTML")
        md = open(os.path.join(out, "report.md"), encoding="utf-8").read()
        f.check("<script" not in md, "title escaped in report.md")
        f.check("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page,
                "escaped title present")
        f.check("SYN flood &lt;80/tcp&gt; &amp; co" in page, "event text escaped")
        f.check(services[0][0] in page, "top service in the HTML")

        # Short windows use hours: the last day is stored as hours and intervals only, day 5
        # both as a day and as hours; neither may be miscounted.
        for when, start in (("2024-03-31", CURRENT + (DAYS - 1) * DAY),
                            ("2024-01-06", CURRENT + 5 * DAY)):
            short = os.path.join(work, f"day-{when}")
            r = run_report(args.report, ["--from", when, "--to", when, "--db", db, "--out",
                                         short])
            if f.check(r.returncode == 0, f"day report {when}: {r.stderr}"):
                check_top(f, short, days, start, start + DAY, f"services on {when}",
                          "services.csv", 2, "service", "Top 5 destination services")

        # Errors: a clear line and a distinct status.
        for argv, status, text in (
                (["--from", "2024-01-01", "--to", "2024-01-02", "--db",
                  os.path.join(work, "missing.db")], 2, "does not exist"),
                (["--from", "2024-01-01", "--to", "2024-01-02", "--db", work], 2,
                 "is a directory"),
                (["--from", "2024-13-01", "--to", "2024-01-02", "--db", db], 2, "bad date"),
                (["--from", "2024-02-01", "--to", "2024-01-02", "--db", db], 2, "must be after"),
                (["--from", "2030-01-01", "--to", "2030-01-31", "--db", db], 1, "empty period"),
        ):
            r = run_report(args.report, argv + ["--out", os.path.join(work, "err")])
            f.equal(r.returncode, status, f"status for {argv}")
            f.check(text in r.stderr, f"message for {argv}: {r.stderr.strip()}")
            f.check("Traceback" not in r.stderr, f"no traceback for {argv}")
        # Without --db the report reads the history where the shipped config has darkscope
        # write it (conf/darkscope.conf `db = ...`). A period in 2030 is empty in any history,
        # so the run fails either way, naming the file it opened.
        conf_db = shipped_config_db(args.report)
        if f.check(conf_db, "conf/darkscope.conf sets no db"):
            r = run_report(args.report, ["--from", "2030-01-01", "--to", "2030-01-01", "--out",
                                         os.path.join(work, "default-db")])
            f.check(r.returncode in (1, 2) and (f"history database {conf_db} " in r.stderr
                                                or f" in {conf_db} " in r.stderr),
                    f"default --db is not the config's {conf_db}: {r.stderr.strip()}")
            r = run_report(args.report, ["--help"])
            f.check(f"default {conf_db})" in r.stdout, f"--help names the default db: {r.stdout}")
        if args.artifacts:
            dest = os.path.join(args.artifacts, "report-quarter")
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(out, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("ok" if f.count == 0 else f"{f.count} failures")
    return 0 if f.count == 0 else 1


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def test_browser(args):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("SKIP: chromium is not installed (apt-get install chromium)")
        return SKIP
    f = Failures()
    work = tempfile.mkdtemp(prefix="darkscope-report-browser-")
    try:
        db, _ = make_history(args.writer, work)
        out = os.path.join(work, "report")
        r = run_report(args.report, ["--from", "2024-01-01", "--to", "2024-03-31", "--db", db,
                                     "--out", out])
        if not f.check(r.returncode == 0, f"report failed: {r.stderr}"):
            return 1
        page = "file://" + os.path.abspath(os.path.join(out, "report.html"))
        screenshot = os.path.join(args.artifacts or work, "report-screenshot.png")
        if os.path.exists(screenshot):
            os.unlink(screenshot)
        common = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--enable-logging=stderr", "--v=0"]
        profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=work)
        shot = subprocess.run(common + [f"--user-data-dir={profile}", "--window-size=1200,2400",
                                        f"--screenshot={screenshot}", page],
                              capture_output=True, text=True, timeout=120)
        f.check(shot.returncode == 0, f"chromium screenshot: {shot.stderr[-2000:]}")
        size = png_size(screenshot) if os.path.exists(screenshot) else None
        f.equal(size, (1200, 2400), "screenshot size")
        profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=work)
        dom = subprocess.run(common + [f"--user-data-dir={profile}", "--dump-dom", page],
                             capture_output=True, text=True, timeout=120)
        f.check(dom.returncode == 0, f"chromium dump-dom: {dom.stderr[-2000:]}")
        f.check("Top 5 destination services" in dom.stdout, "page rendered its content")
        f.equal(dom.stdout.count("data:image/png;base64,"), 12, "images in the DOM")
        errors = [line for line in dom.stderr.splitlines() + shot.stderr.splitlines()
                  if "CONSOLE" in line or "Uncaught" in line or "net::ERR" in line]
        f.equal(errors, [], "browser console errors")
        if args.artifacts:
            print(f"screenshot kept at {screenshot}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("ok" if f.count == 0 else f"{f.count} failures")
    return 0 if f.count == 0 else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["numbers", "browser"])
    p.add_argument("--writer", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--artifacts")
    args = p.parse_args()
    if args.artifacts:
        os.makedirs(args.artifacts, exist_ok=True)
    return test_numbers(args) if args.mode == "numbers" else test_browser(args)


if __name__ == "__main__":
    sys.exit(main())
