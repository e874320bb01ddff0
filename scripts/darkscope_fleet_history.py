"""The fleet's ClickHouse tables (docs/fleet.md) read as darkscope-report's history.

FleetHistory answers the same questions as the report's SQLite History (choose a window, totals
of a dimension, a key's time series, unique sources, events), so that the report renders either
one with the same code. What differs is what the tables can say:

- totals: every key of every dimension per appliance and interval (no top-K cut), so packets and
  bytes add up exactly across appliances and times;
- sensors: one appliance's sensor names are its own: a fleet sensor is "APPLIANCE/SENSOR";
- unique sources: with tuples (`--fleet-tuples on`), the exact count of distinct source
  addresses over the whole window, `uniqExact(source)`; where every interval of the window was
  exported without tuples (`--fleet-tuples off`), the union of the source sketches each
  appliance shipped per interval (darkscope_hll.py: exact while they are sparse, else an
  estimate with its standard error); where the window mixes both, the union of those sketches
  and of the hashes of the tuples' distinct sources; where neither can be had, only the largest
  count of one appliance's interval, a lower bound.

ClickHouse's HTTP interface, FORMAT JSON, standard library only; ClickHouse 18.16 and later.
"""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

import darkscope_hll

TABLES = ("tuples", "totals", "events", "intervals")
# Aggregates only: the intervals' source sketches (a cluster initialised before they existed has
# no such table; its aggregates-only windows keep the lower bound).
SKETCH_TABLE = "sketches"
SKETCH_DIMENSIONS = ("total", "service", "country", "sensor")
# Sensor keys that are not sensors (no sensor matched, beyond the top K, no key): not prefixed.
NOT_SENSORS = ("other", "none", "unmatched")
SENSOR_DIMENSIONS = ("sensor", "sensor_service", "sensor_country")


class FleetError(Exception):
    """A malformed URL, an unreadable credentials file, ClickHouse unreachable or refusing, or
    the fleet's tables missing: one line for the user."""


def quote(text):
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _client_url(url, credentials_file):
    """(base URL without credentials, database, Authorization header or None, shown name)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise FleetError(f"--fleet {url!r}: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FleetError(f"--fleet {url!r}: want http://HOST:PORT/?database=NAME")
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    database = query.pop("database", "darkscope")
    user = query.pop("user", urllib.parse.unquote(parts.username or ""))
    password = query.pop("password", urllib.parse.unquote(parts.password or ""))
    if query:
        raise FleetError(f"--fleet: unknown URL parameter {sorted(query)[0]!r} "
                         "(database, user, password)")
    if not database or not all(c.isalnum() or c == "_" for c in database):
        raise FleetError(f"--fleet: database {database!r} is not a plain name")
    if credentials_file:
        try:
            with open(credentials_file, encoding="utf-8") as f:
                user, _, password = f.readline().rstrip("\r\n").partition(":")
        except OSError as e:
            raise FleetError(f"--fleet-credentials {credentials_file}: {e.strerror}") from None
        if not user:
            raise FleetError(f"--fleet-credentials {credentials_file}: want one line "
                             "user:password")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc += f":{port}" if port else ""
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))
    auth = None
    if user:
        auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return base, database, auth, netloc


class FleetHistory:
    def __init__(self, url, credentials_file=None, timeout=300):
        self.base, self.database, self.auth, self.name = _client_url(url, credentials_file)
        self.timeout = timeout
        self.description = f"the fleet's ClickHouse tables at {self.name}, database " \
                           f"{self.database}"
        present = {r["name"] for r in self.query(
            "SELECT name FROM system.tables WHERE database = " + quote(self.database))}
        self.has_sketches = SKETCH_TABLE in present
        missing = [t for t in TABLES if t not in present]
        if missing:
            raise FleetError(f"{self.name}: database {self.database} has no table "
                             f"{', '.join(missing)} (darkscope-fleet init creates them)")
        self.window = None
        self._with_tuples = {}
        self._source_mode = {}
        self.exact_sources = True
        # How the chosen window's unique sources are counted: "tuples" (exact), "sketches"
        # (merged, exact while sparse) or "bound" (the largest single count).
        self.source_mode = "tuples"
        # The relative standard error of the last best_unique() (0: exact).
        self.unique_error = 0.0
        self.sketch_precision = None
        self.tuple_packets = self.packets = 0

    # -- ClickHouse

    def query(self, sql):
        """Rows of one SELECT as dicts (FORMAT JSON; 64-bit integers come quoted)."""
        params = urllib.parse.urlencode({"database": self.database, "query": sql +
                                         " FORMAT JSON"})
        req = urllib.request.Request(self.base + "?" + params, data=b"")
        if self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read().decode())["data"]
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace").strip().splitlines()
            raise FleetError(f"{self.name}: HTTP {e.code}: "
                             f"{text[0] if text else e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise FleetError(f"{self.name}: cannot reach ClickHouse: {reason}") from None
        except ValueError as e:
            raise FleetError(f"{self.name}: not a ClickHouse JSON answer: {e}") from None

    def _in_window(self, column="interval_start"):
        start, end = self.window
        return f"{column} >= toDateTime({int(start)}) AND {column} < toDateTime({int(end)})"

    # -- The report's questions

    def choose(self, start, end):
        """Selects [start, end) (interval starts); returns how many intervals were delivered
        in it, and notes whether every one of them carried its tuples (what sources_heading
        and sources_note describe: the window chosen last)."""
        self.window = (start, end)
        row = self.query("SELECT count() AS n, min(tuple_mode) AS with_tuples, "
                         "sum(packets) AS packets, sum(tuple_packets) AS tuple_packets "
                         f"FROM intervals WHERE {self._in_window()}")[0]
        n = int(row["n"])
        if n:
            self.exact_sources = int(row["with_tuples"]) == 1
            self.source_mode = self._unique_mode()
            self.packets = int(row["packets"])
            self.tuple_packets = int(row["tuple_packets"])
        return n

    def totals(self, dimension):
        """{key: (packets, bytes)} over the window; sensor keys as APPLIANCE/SENSOR."""
        out = {}
        for r in self.query(
                "SELECT appliance, key, sum(packets) AS p, sum(bytes) AS b FROM totals "
                f"WHERE dimension = {quote(dimension)} AND {self._in_window()} "
                "GROUP BY appliance, key"):
            key = self.fleet_key(dimension, r["appliance"], r["key"])
            p, b = out.get(key, (0, 0))
            out[key] = (p + int(r["p"]), b + int(r["b"]))
        return out

    @staticmethod
    def fleet_key(dimension, appliance, key):
        if dimension not in SENSOR_DIMENSIONS:
            return key
        sensor, bar, rest = key.partition("|")
        if sensor in NOT_SENSORS:
            return key
        return f"{appliance}/{sensor}{bar}{rest}"

    def _key_filter(self, dimension, key):
        """WHERE terms for a key as totals() names it: APPLIANCE/SENSOR or, for a sensor key
        without an appliance (as events name them), that sensor at every appliance."""
        terms = [f"dimension = {quote(dimension)}"]
        sensor, bar, rest = key.partition("|")
        if dimension in SENSOR_DIMENSIONS and "/" in sensor:
            appliance, _, sensor = sensor.rpartition("/")
            terms.append(f"appliance = {quote(appliance)}")
            key = sensor + bar + rest
        terms.append(f"key = {quote(key)}")
        return " AND ".join(terms)

    def has_series(self, dimension, key):
        return bool(self.query(f"SELECT 1 AS x FROM totals WHERE {self._key_filter(dimension, key)}"
                               f" AND {self._in_window()} LIMIT 1"))

    def series(self, dimension, key, bucket):
        """{bucket start: packets} over the window."""
        return {int(r["t"]): int(r["p"]) for r in self.query(
            f"SELECT intDiv(toUInt32(interval_start), {int(bucket)}) * {int(bucket)} AS t, "
            f"sum(packets) AS p FROM totals WHERE {self._key_filter(dimension, key)} AND "
            f"{self._in_window()} GROUP BY t")}

    def _tuple_filter(self, dimension, key):
        """WHERE terms selecting the tuples of a key, or None for a dimension tuples lack."""
        if dimension == "total":
            return "1"
        if dimension == "service":
            return f"probe = 1 AND service = {quote(key)}"
        if dimension == "country":
            return f"country = {quote(key)}"
        if dimension == "asn":
            return f"asn = {int(key)}" if str(key).isdigit() else None
        if dimension == "sensor":
            appliance, slash, sensor = key.rpartition("/")
            return (f"appliance = {quote(appliance)} AND sensor = {quote(sensor)}" if slash
                    else f"sensor = {quote(key)}")
        return None

    def best_unique(self, dimension, key, start, end):
        """(count, over): exact distinct sources over [start, end) ("period"); where every
        interval came without tuples, the union of their sketches ("period" while exact,
        "period-estimate" otherwise, its relative standard error in unique_error); where the
        window mixes both, the union of those sketches and of the hashes of the tuples' distinct
        sources (the same). Where neither can be had (a dimension without sketches, intervals
        exported before the sketches existed), the largest one appliance's interval counted
        ("appliance-interval", a lower bound)."""
        saved, self.window = self.window, (start, end)
        self.unique_error = 0.0
        try:
            where = self._tuple_filter(dimension, key)
            mode = self._unique_mode()
            if mode == "tuples" and where is not None:
                row = self.query(f"SELECT uniqExact(source) AS n FROM tuples WHERE {where} "
                                 f"AND {self._in_window()}")[0]
                return int(row["n"]), "period"
            if mode in ("sketches", "mixed") and dimension in SKETCH_DIMENSIONS:
                merged = self.merged_sketches(dimension, key)
                if mode == "mixed" and where is not None:
                    merged = merged or darkscope_hll.Union()
                    merged.add_sources(r["s"] for r in self.query(
                        f"SELECT DISTINCT source AS s FROM tuples WHERE {where} AND "
                        f"{self._in_window()}"))
                if merged is not None:
                    count, self.unique_error = merged.count()
                    if not merged.exact():
                        self.sketch_precision = min(self.sketch_precision or 99,
                                                    merged.precision())
                    return count, "period" if merged.exact() else "period-estimate"
            rows = self.query(f"SELECT max(sources) AS n, count() AS c FROM totals WHERE "
                              f"{self._key_filter(dimension, key)} AND {self._in_window()}")
            if rows and int(rows[0]["c"]):
                return int(rows[0]["n"]), "appliance-interval"
            return None, None
        finally:
            self.window = saved

    def merged_sketches(self, dimension, key):
        """The union (darkscope_hll.Union) of the key's sketches over the window, across every
        appliance; None when no interval shipped one for it."""
        union = darkscope_hll.Union()
        for r in self.query(f"SELECT sketch FROM {SKETCH_TABLE} WHERE "
                            f"{self._key_filter(dimension, key)} AND {self._in_window()}"):
            try:
                union.add(darkscope_hll.decode_text(r["sketch"]))
            except darkscope_hll.SketchError as e:
                raise FleetError(f"{self.name}: a damaged sketch of {dimension} {key}: "
                                 f"{e}") from None
        return union if union.sketches else None

    def _unique_mode(self):
        """"tuples" when every interval of the window came with its tuples, "sketches" when
        every one came without them but with its sketches, "mixed" when each came with one or
        the other, else "bound"."""
        if self.window not in self._source_mode:
            if self._all_with_tuples():
                mode = "tuples"
            else:
                mode = "bound"
                if self.has_sketches:
                    row = self.query("SELECT count() AS n, max(tuple_mode) AS m FROM intervals "
                                     f"WHERE {self._in_window()}")[0]
                    shipped = self.query(f"SELECT count() AS n FROM {SKETCH_TABLE} WHERE "
                                         f"dimension = 'total' AND {self._in_window()}")[0]
                    without = self.query("SELECT count() AS n FROM intervals WHERE "
                                         f"tuple_mode = 0 AND {self._in_window()}")[0]
                    if int(shipped["n"]) == int(without["n"]):
                        mode = "sketches" if int(row["m"]) == 0 else "mixed"
            self._source_mode[self.window] = mode
        return self._source_mode[self.window]

    def _all_with_tuples(self):
        """Whether every interval delivered in the window came with its tuples."""
        if self.window not in self._with_tuples:
            row = self.query("SELECT count() AS n, min(tuple_mode) AS m FROM intervals WHERE "
                             f"{self._in_window()}")[0]
            self._with_tuples[self.window] = int(row["n"]) == 0 or int(row["m"]) == 1
        return self._with_tuples[self.window]

    def sources_heading(self, length):
        if self.source_mode in ("sketches", "mixed"):
            return "Unique sources (whole period, merged sketches)"
        return "Unique sources (exact, whole period)" if self.exact_sources else \
            "Unique sources (at least; busiest appliance-interval)"

    def sources_note(self):
        """How the unique-source counts were taken, for the report's footnote."""
        if self.source_mode in ("sketches", "mixed"):
            note = ("Unique sources: " + (
                "the intervals of the period were exported without their source tuples "
                "(--fleet-tuples off); each count is the union of the HyperLogLog source "
                "sketches every appliance shipped for each interval" if self.source_mode ==
                "sketches" else
                "some intervals of the period were exported without their source tuples "
                "(--fleet-tuples off); each count is the union of the HyperLogLog source "
                "sketches every appliance shipped for each of those intervals and of the "
                "distinct sources of the others' tuples") +
                ", merged over the whole period across every appliance and sensor. A count "
                "without ± is exact (every sketch still held its sources' hashes); a count "
                "with ± is an estimate, ± one relative standard error")
            if self.sketch_precision:
                note += (f" ({darkscope_hll.standard_error(self.sketch_precision):.2%} for "
                         f"precision {self.sketch_precision}, the coarsest merged)")
            return note + "."
        if not self.exact_sources:
            return ("Some intervals of the period were exported without their source tuples "
                    "(--fleet-tuples off): unique sources are not exact, only the largest count "
                    "of one appliance's interval (a lower bound).")
        note = "Unique sources: the exact count of distinct source addresses over the whole " \
               "period, across every appliance and sensor."
        missing = self.packets - self.tuple_packets
        if missing > 0:
            note += (f" {missing:,} packets had no source tuple (non-IP, or spilled beyond a "
                     "full spill log) and are not in those counts.")
        return note

    def events(self, start, end):
        """One entry per (appliance, event id) touching [start, end): phases and latest JSON."""
        events = {}
        rows = self.query(
            "SELECT appliance, id, kind, phase, toUInt32(time) AS t, json FROM events WHERE "
            "(appliance, id) GLOBAL IN (SELECT appliance, id FROM events WHERE "
            f"{self._time_between(start, end)}) ORDER BY t, appliance, id")
        for r in rows:
            eid = f"{r['appliance']}/{r['id']}"
            t = int(r["t"])
            e = events.setdefault(eid, {"id": eid, "kind": r["kind"], "first": t, "last": t,
                                        "phases": [], "data": {}})
            e["last"] = t
            e["phases"].append(r["phase"])
            try:
                data = json.loads(r["json"])
                if isinstance(data, dict):
                    e["data"].update(data)
            except ValueError:
                pass
        return list(events.values())

    @staticmethod
    def _time_between(start, end):
        return f"time >= toDateTime({int(start)}) AND time < toDateTime({int(end)})"
