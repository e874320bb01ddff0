"""Tests for scripts/darkscope-report against a history written by the real HistoryStore.

    pytest test_report.py --history-writer report_history_writer --report-script
           darkscope-report [--artifacts DIR] [-k browser | -k "not browser"]

The plan below (traffic per day, sensor, country and service) is the truth: the expected tables
are computed from it here, independently of the report's own code. The test_browser_ cases need
Debian's chromium (skipped without it).
"""

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

import pytest

DAY = 86400
HOUR = 3600


def day0(text):
    return int(dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc).timestamp())


SURGE_CAPTURE = "/var/lib/darkscope/record/events/surge:service:53_udp:1.pcapng"
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
             '"packets":54000,"sources":1234,"countries":["US","CN","RU"],'
             '"capture":"%s"}' % (surge_start, surge_end, SURGE_CAPTURE))
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
        pytest.fail(f"history writer failed: {r.stderr}", pytrace=False)
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


def top_failures(out, days, start, end, name, csv_name, index, key_column, md_heading,
                 label=lambda k: k):
    """One top-5 table of a report against the plan: {what: [what differs]} for its order,
    packets, previous ranks, rank changes, shares, unique sources and report.md's copy."""
    failures = {k: [] for k in ("order", "packets", "previous_rank", "rank_change", "share",
                                "sources", "markdown")}

    def equal(what, got, want, message):
        if got != want:
            failures[what].append(f"{message}: got {got!r}, want {want!r}")

    length = end - start
    now, before = truth_top(days, start, end, index, (start - length, start))
    want = now[:5]
    total = sum(p for _, p in now)
    got = read_csv(os.path.join(out, csv_name))
    equal("order", [r[key_column] for r in got], [k for k, _ in want], f"{name}: top 5 order")
    equal("packets", [int(r["packets"]) for r in got], [p for _, p in want], f"{name}: packets")
    equal("previous_rank", [r["previous_rank"] for r in got],
          [str(before.get(k, "")) for k, _ in want], f"{name}: previous ranks")
    equal("rank_change", [r["rank_change"] for r in got],
          [expected_rank_change(i + 1, before.get(k)) for i, (k, _) in enumerate(want)],
          f"{name}: rank change")
    for r, (k, p) in zip(got, want):
        if abs(float(r["share"]) - p / total) >= 1e-6:
            failures["share"].append(f"{name}: share of {k}: {r['share']}, want {p / total}")
    if length > 3 * DAY:
        # Unique sources: the busiest stored day's count (the plan stores packets // 7),
        # never a sum. The last day is stored as hours only, so it has no day count.
        for r, (k, _) in zip(got, want):
            per_day = [sum(p for key, p in cells.items() if key[index] == k)
                       for day, cells in days.items() if start <= day < end - DAY]
            equal("sources", r["max_sources"], str(max(1, max(per_day) // 7)),
                  f"{name}: sources of {k}")
            equal("sources", r["max_sources_per"], "day", f"{name}: sources per day")
    with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
        table = md_section_table(f.read(), md_heading)
    if table is None:
        failures["markdown"].append(f"{name}: report.md has no '{md_heading}'")
    else:
        equal("markdown", [row[1] for row in table], [label(k) for k, _ in want],
              f"{name}: report.md keys")
        equal("markdown", [int(row[2].replace(",", "")) for row in table], [p for _, p in want],
              f"{name}: report.md packets")
        equal("markdown", [row[5] for row in table],
              [expected_rank_change(i + 1, before.get(k)) for i, (k, _) in enumerate(want)],
              f"{name}: report.md rank change")
    return failures


def no_failures(failures):
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def writer(pytestconfig):
    path = pytestconfig.getoption("history_writer")
    if not path:
        pytest.fail("--history-writer PATH is needed", pytrace=False)
    return path


@pytest.fixture(scope="module")
def report(pytestconfig):
    path = pytestconfig.getoption("report_script")
    if not path:
        pytest.fail("--report-script PATH is needed", pytrace=False)
    return path


@pytest.fixture(scope="module")
def artifacts(pytestconfig):
    path = pytestconfig.getoption("artifacts")
    if path:
        os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def work():
    path = tempfile.mkdtemp(prefix="darkscope-report-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def history(writer, work):
    """(the history database written from the plan, {day start: cells})."""
    return make_history(writer, work)


TITLE = "Q1 <script>alert('x')</script> & co"
END = CURRENT + DAYS * DAY
NAMES = {"US": "United States", "CN": "China", "RU": "Russian Federation", "NL": "Netherlands",
         "DE": "Germany", "BR": "Brazil", "JP": "Japan", "KR": "South Korea"}


@pytest.fixture(scope="module")
def quarter(report, history, work, artifacts):
    """The first quarter's report, with a title to escape: its directory."""
    out = os.path.join(work, "quarter")
    r = run_report(report, ["--from", "2024-01-01", "--to", "2024-03-31", "--db", history[0],
                            "--out", out, "--title", TITLE])
    if r.returncode != 0:
        pytest.fail(f"quarter report failed: {r.stderr}", pytrace=False)
    if artifacts:
        dest = os.path.join(artifacts, "report-quarter")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(out, dest)
    return out


TOPS = {"services": ("services.csv", 2, "service", "Top 5 destination services",
                     lambda k: k),
        "regions": ("regions.csv", 1, "country", "Top 5 source regions",
                    lambda k: f"{NAMES[k]} ({k})")}


@pytest.fixture(scope="module")
def quarter_tops(quarter, history):
    return {name: top_failures(quarter, history[1], CURRENT, END, name, csv_name, index, key,
                               heading, label)
            for name, (csv_name, index, key, heading, label) in TOPS.items()}


@pytest.mark.parametrize("what", ["order", "packets", "previous_rank", "rank_change", "share",
                                  "sources", "markdown"])
@pytest.mark.parametrize("top", list(TOPS))
def test_quarter_top_5_equal_plan(quarter_tops, top, what):
    no_failures(quarter_tops[top][what])


def test_region_names(quarter):
    no_failures([f"region name of {r['country']}: {r['name']!r}"
                 for r in read_csv(os.path.join(quarter, "regions.csv"))
                 if r["name"] != NAMES[r["country"]]])


def per_sensor_services(days):
    per = {}
    for cells in (c for d, c in days.items() if CURRENT <= d < END):
        for (sensor, _, service), p in cells.items():
            per.setdefault(sensor, {})
            per[sensor][service] = per[sensor].get(service, 0) + p
    return per


def test_services_per_sensor_equal_plan(quarter, history):
    """Services by average packets per sensor: the plan's packets over its three sensors, and
    how many sensors the plan sends each service to. The top 5 exactly (always within a day's
    stored top K); below them a service is undercounted by what went to "other" on the days
    it was outside the top K, so there each row is checked against its own packets."""
    totals, seeing = {}, {}
    for sensor, services_here in per_sensor_services(history[1]).items():
        for service, p in services_here.items():
            totals[service] = totals.get(service, 0) + p
            seeing.setdefault(service, set()).add(sensor)
    want = [(s, f"{p / len(SENSORS):.3f}", str(p), str(len(seeing[s])))
            for s, p in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:5]]
    rows = read_csv(os.path.join(quarter, "services_per_sensor.csv"))
    got = [(r["service"], r["packets_per_sensor"], r["packets"], r["sensors_seeing"])
           for r in rows]
    assert got[:5] == want
    assert len(rows) == 10
    for r in rows:
        assert r["packets_per_sensor"] == f"{int(r['packets']) / len(SENSORS):.3f}"
        assert int(r["packets"]) <= totals[r["service"]]
        assert (r["sensors"], r["sensors_seeing"]) == (str(len(SENSORS)),
                                                       str(len(seeing[r["service"]])))


def test_sensor_top_10_equal_plan(quarter, history):
    per = per_sensor_services(history[1])
    got = read_csv(os.path.join(quarter, "sensors.csv"))
    failures = []
    for sensor, services_here in per.items():
        want = sorted(services_here.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        rows = [(r["service"], int(r["packets"])) for r in got if r["sensor"] == sensor]
        if rows != want:
            failures.append(f"sensor {sensor}: got {rows}, want {want}")
    no_failures(failures)


def test_what_stands_out_per_sensor(quarter, history):
    # A service stands out at a sensor with a share >= 5% there and >= 3x its share elsewhere.
    per = per_sensor_services(history[1])
    all_total = sum(sum(s.values()) for s in per.values())
    failures = []
    for r in read_csv(os.path.join(quarter, "sensors.csv")):
        total = sum(per[r["sensor"]].values())
        share = int(r["packets"]) / total
        elsewhere = sum(per[s].get(r["service"], 0) for s in per if s != r["sensor"])
        other_share = elsewhere / (all_total - total)
        want = str(int(share >= 0.05 and share >= 3 * other_share))
        if r["stands_out"] != want:
            failures.append(f"stands out {r['sensor']} {r['service']}: {r['stands_out']}, "
                            f"want {want}")
    no_failures(failures)


def test_scan_at_one_sensor_stands_out(quarter):
    flagged = [(r["sensor"], r["service"]) for r in read_csv(os.path.join(quarter,
                                                                          "sensors.csv"))
               if r["stands_out"] == "1"]
    assert ("tokyo-b", "21318/tcp") in flagged, f"21318/tcp at tokyo-b flagged: {flagged}"


def test_events_of_the_quarter_in_time_order(quarter):
    events = read_csv(os.path.join(quarter, "events.csv"))
    assert [e["event_id"] for e in events] == ["surge-1", "dos-1"], events


def test_events_name_their_captures(quarter):
    events = read_csv(os.path.join(quarter, "events.csv"))
    assert [e["capture"] for e in events] == [SURGE_CAPTURE, ""], events
    with open(os.path.join(quarter, "report.md"), encoding="utf-8") as f:
        table = md_section_table(f.read(), "Notable events")
    assert [row[-1] for row in table] == [SURGE_CAPTURE, "-"], table


def test_surge_sentence(quarter):
    events = read_csv(os.path.join(quarter, "events.csv"))
    assert events and events[0]["sentence"] == \
        "From 10 February to 14 February, packets to 53/udp rose to 10 times their usual " \
        "level, from 1,234 sources in 3 countries (54,000 packets).", events


def test_dos_sentence(quarter):
    events = read_csv(os.path.join(quarter, "events.csv"))
    assert len(events) > 1 and "192.0.2.10 (Japan, AS64500)" in events[1]["sentence"], events


def test_one_png_chart_per_service_region_and_event(quarter):
    charts = sorted(os.listdir(os.path.join(quarter, "charts")))
    assert len(charts) == 5 + 5 + 2, f"charts {charts}"
    not_png = []
    for c in charts:
        with open(os.path.join(quarter, "charts", c), "rb") as png:
            if png.read(8) != b"\x89PNG\r\n\x1a\n":
                not_png.append(c)
    assert not not_png, f"not PNGs: {not_png}"


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_charts_embedded_in_the_html(quarter):
    page = read_text(os.path.join(quarter, "report.html"))
    charts = os.listdir(os.path.join(quarter, "charts"))
    assert page.count('src="data:image/png;base64,') == len(charts), "embedded charts"


def test_title_escaped(quarter):
    page = read_text(os.path.join(quarter, "report.html"))
    md = read_text(os.path.join(quarter, "report.md"))
    assert "<script" not in page, "title not escaped in the HTML"
    assert "<script" not in md, "title not escaped in report.md"
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page, \
        "escaped title missing"


def test_event_text_escaped(quarter):
    page = read_text(os.path.join(quarter, "report.html"))
    assert "SYN flood &lt;80/tcp&gt; &amp; co" in page, "event text not escaped"


def test_top_service_in_the_html(quarter, history):
    page = read_text(os.path.join(quarter, "report.html"))
    top = truth_top(history[1], CURRENT, END, 2, (CURRENT - DAYS * DAY, CURRENT))[0][0][0]
    assert top in page, f"top service {top} not in the HTML"


@pytest.mark.parametrize("when,start", [("2024-03-31", CURRENT + (DAYS - 1) * DAY),
                                        ("2024-01-06", CURRENT + 5 * DAY)])
def test_day_report_counts_hours_once(report, history, work, when, start):
    # Short windows use hours: the last day is stored as hours and intervals only, day 5 both
    # as a day and as hours; neither may be miscounted.
    short = os.path.join(work, f"day-{when}")
    r = run_report(report, ["--from", when, "--to", when, "--db", history[0], "--out", short])
    assert r.returncode == 0, f"day report {when}: {r.stderr}"
    failures = top_failures(short, history[1], start, start + DAY, f"services on {when}",
                            "services.csv", 2, "service", "Top 5 destination services")
    no_failures([f for fs in failures.values() for f in fs])


ERRORS = [("missing-db", lambda db, work: ["--from", "2024-01-01", "--to", "2024-01-02", "--db",
                                           os.path.join(work, "missing.db")], 2,
           "does not exist"),
          ("db-a-directory", lambda db, work: ["--from", "2024-01-01", "--to", "2024-01-02",
                                               "--db", work], 2, "is a directory"),
          ("bad-date", lambda db, work: ["--from", "2024-13-01", "--to", "2024-01-02", "--db",
                                         db], 2, "bad date"),
          ("to-before-from", lambda db, work: ["--from", "2024-02-01", "--to", "2024-01-02",
                                               "--db", db], 2, "must be after"),
          ("empty-period", lambda db, work: ["--from", "2030-01-01", "--to", "2030-01-31",
                                             "--db", db], 1, "empty period")]


@pytest.mark.parametrize("argv_of,status,text", [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_error_a_clear_line_and_a_distinct_status(report, history, work, argv_of, status, text):
    argv = argv_of(history[0], work)
    r = run_report(report, argv + ["--out", os.path.join(work, "err")])
    assert r.returncode == status, f"status for {argv}: {r.returncode}, want {status}"
    assert text in r.stderr, f"message for {argv}: {r.stderr.strip()}"
    assert "Traceback" not in r.stderr, f"traceback for {argv}: {r.stderr}"


@pytest.fixture(scope="module")
def conf_db(report):
    db = shipped_config_db(report)
    if not db:
        pytest.fail("conf/darkscope.conf sets no db", pytrace=False)
    return db


def test_default_db_is_the_shipped_configs(report, work, conf_db):
    # Without --db the report reads the history where the shipped config has darkscope write it
    # (conf/darkscope.conf `db = ...`). A period in 2030 is empty in any history, so the run
    # fails either way, naming the file it opened.
    r = run_report(report, ["--from", "2030-01-01", "--to", "2030-01-01", "--out",
                            os.path.join(work, "default-db")])
    assert r.returncode in (1, 2) and (f"history database {conf_db} " in r.stderr
                                       or f" in {conf_db} " in r.stderr), \
        f"default --db is not the config's {conf_db}: {r.stderr.strip()}"


def test_help_names_the_default_db(report, conf_db):
    r = run_report(report, ["--help"])
    assert f"default {conf_db})" in r.stdout, f"--help names the default db: {r.stdout}"


# --- in a browser ----------------------------------------------------------------------------
def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def browser(report, history, work, artifacts):
    """The quarter's report.html in headless chromium: a screenshot (kept in --artifacts) and
    the rendered DOM."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    out = os.path.join(work, "browser-report")
    r = run_report(report, ["--from", "2024-01-01", "--to", "2024-03-31", "--db", history[0],
                            "--out", out])
    if r.returncode != 0:
        pytest.fail(f"report failed: {r.stderr}", pytrace=False)
    page = "file://" + os.path.abspath(os.path.join(out, "report.html"))
    screenshot = os.path.join(artifacts or work, "report-screenshot.png")
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
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=work)
    dom = subprocess.run(common + [f"--user-data-dir={profile}", "--dump-dom", page],
                         capture_output=True, text=True, timeout=120)
    if artifacts:
        print(f"screenshot kept at {screenshot}")
    return {"shot": shot, "screenshot": screenshot, "dom": dom}


def test_browser_screenshot_of_the_page_size(browser):
    shot = browser["shot"]
    assert shot.returncode == 0, f"chromium screenshot: {shot.stderr[-2000:]}"
    size = png_size(browser["screenshot"]) if os.path.exists(browser["screenshot"]) else None
    assert size == (1200, 2400), f"screenshot size {size}"


def test_browser_renders_the_content(browser):
    dom = browser["dom"]
    assert dom.returncode == 0, f"chromium dump-dom: {dom.stderr[-2000:]}"
    assert "Top 5 destination services" in dom.stdout, "page did not render its content"


def test_browser_shows_every_chart(browser):
    assert browser["dom"].stdout.count("data:image/png;base64,") == 12, "images in the DOM"


def test_browser_console_without_errors(browser):
    errors = [line for line in browser["dom"].stderr.splitlines() +
              browser["shot"].stderr.splitlines()
              if "CONSOLE" in line or "Uncaught" in line or "net::ERR" in line]
    assert errors == [], "browser console errors"
