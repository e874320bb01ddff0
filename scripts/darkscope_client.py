"""darkscope_client: the one Python client of a running darkscope and of what it writes.

- request() / query(): one request on DPDK's telemetry v2 socket
  (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2, SOCK_SEQPACKET). Each request connects, reads
  the greeting, sends the command, reads the reply and closes: DPDK 22.11's telemetry library
  serves a few connections at a time, each with a blocking read, so a client that kept its
  connection open would hold one of them.
- unrank() / ranked() / rank(): darkscope answers ranked lists as dicts keyed "1", "2", ...
  (DPDK 22.11's telemetry cannot hold dicts inside arrays); these turn them back into lists and
  lists into that shape.
- read_summary(): a darkscope --summary file (what the socket answered when the run ended, keyed
  by command: {"/darkscope/stats": {...}, "/darkscope/top/ports,1000": {...}, ...}).
- load_tables(): the data darkscope and its tools share (country names, UDP service ports), from
  darkscope_tables.json beside this module.

Standard library only. Scripts import it from their own directory, tests from <source>/scripts.
"""

import json
import os
import socket

RUNTIME_DIR = "/var/run/dpdk"
SOCKET_NAME = "dpdk_telemetry.v2"
TABLES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "darkscope_tables.json")
# The greeting ({"version", "pid", "max_output_len"}) is short; replies are at most
# max_output_len bytes of JSON (16384 in DPDK 22.11), read with room to spare.
GREETING_BYTES = 1024
DEFAULT_MAX_OUTPUT = 16384
# DPDK 22.11's telemetry serves at most this many connections at once (MAX_CONNECTIONS) and closes
# any further one before its greeting.
MAX_CONNECTIONS = 10


class TelemetryError(Exception):
    """A request that got no usable reply; the message names the socket and what went wrong."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


class SocketMissing(TelemetryError):
    """No socket at the path: no DPDK process runs with that file prefix."""


class SocketDenied(TelemetryError):
    """The socket (or its directory) exists but this user may not use it."""


class SummaryError(Exception):
    """A --summary file that cannot be read or is not a darkscope summary."""


def socket_path(prefix):
    """The telemetry socket of the DPDK process started with --file-prefix PREFIX."""
    return os.path.join(RUNTIME_DIR, prefix, SOCKET_NAME)


def command_name(command):
    """The key a reply holds its value under: the command without its parameters."""
    return command.split(",", 1)[0]


def request(path, command, timeout=5.0):
    """Sends one command to the socket at path; returns the decoded reply, {"<command>": value}
    (None and {} come back as DPDK sends them). Raises SocketMissing, SocketDenied or
    TelemetryError."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        greeting = sock.recv(GREETING_BYTES)
        if not greeting:
            raise TelemetryError(f"{path} closed the connection before greeting: DPDK's telemetry "
                                 f"serves at most {MAX_CONNECTIONS} connections at a time and "
                                 "other clients hold them all (a client that keeps its "
                                 "connection open holds one)", path)
        try:
            max_len = int(json.loads(greeting.decode()).get("max_output_len", DEFAULT_MAX_OUTPUT))
        except (ValueError, AttributeError):
            raise TelemetryError(f"{path} greeted with {greeting[:200]!r}, not DPDK's "
                                 "telemetry v2 greeting", path)
        sock.send(command.encode())
        reply = sock.recv(max_len + GREETING_BYTES)
    except FileNotFoundError:
        raise SocketMissing(f"{path} not found", path)
    except PermissionError:
        raise SocketDenied(denied_message(path), path)
    except ConnectionRefusedError:
        raise TelemetryError(f"{path} exists but nothing answers (darkscope stopped "
                             "uncleanly?)", path)
    except socket.timeout:
        raise TelemetryError(f"no reply from {path} within {timeout:g} s", path)
    except OSError as e:
        raise TelemetryError(f"{path}: {e.strerror or e}", path)
    finally:
        sock.close()
    if not reply:
        raise TelemetryError(f"{path} closed the connection without a reply", path)
    try:
        return decode_strings(json.loads(reply.decode()))
    except ValueError:
        raise TelemetryError(f"reply is not JSON: {reply[:200]!r}", path)


def denied_message(path):
    """Why connecting to path was denied: a directory on the way this user may not look into
    (then whether the socket exists cannot be told), or the socket itself."""
    ancestors = []
    directory = os.path.dirname(os.path.abspath(path))
    while True:
        ancestors.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for directory in reversed(ancestors):
        if not os.access(directory, os.X_OK):
            return (f"permission denied on {directory}: this user may not look into it, so "
                    f"whether {path} exists cannot be told (run as root?)")
    return (f"permission denied on {path}: the socket exists but this user may not connect to "
            "it (run as root?)")


def decode_strings(value):
    """darkscope hands DPDK's telemetry only ASCII: each string is the body of a JSON string
    (non-ASCII as \\uXXXX, controls escaped, bytes that are not UTF-8 as U+FFFD), because DPDK
    22.11 cannot escape anything else. This turns every such string back into its characters."""
    if isinstance(value, str):
        if "\\" not in value:
            return value
        try:
            return json.loads('"' + value + '"')
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: decode_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_strings(v) for v in value]
    return value


def query(prefix, command, timeout=5.0):
    """The value of one command sent to the DPDK process with --file-prefix PREFIX (the reply
    without its {"<command>": ...} wrapper); None when the reply holds nothing under that name."""
    reply = request(socket_path(prefix), command, timeout)
    return reply.get(command_name(command)) if isinstance(reply, dict) else None


def is_ranked(value):
    """A ranked list as darkscope sends it: a dict keyed by rank "1", "2", ... ({} is empty)."""
    return isinstance(value, dict) and all(str(k).isdigit() for k in value)


def ranked(value):
    """A ranked list (a dict keyed by rank, or a list: darkscope sends an empty one as []) as a
    list in rank order; ValueError for anything else."""
    if isinstance(value, list):
        return value
    if is_ranked(value):
        return [value[k] for k in sorted(value, key=int)]
    raise ValueError(f"not a ranked list: {value!r:.300}")


def unrank(value):
    """A reply with every ranked list of dicts in it (at any depth) turned back into a list."""
    if (isinstance(value, dict) and value and is_ranked(value)
            and all(isinstance(v, dict) for v in value.values())):
        return [unrank(value[k]) for k in sorted(value, key=int)]
    if isinstance(value, dict):
        return {k: unrank(v) for k, v in value.items()}
    return value


def rank(rows):
    """A list of dicts in the shape darkscope sends it: keyed by rank, an empty list as []."""
    return {str(i + 1): r for i, r in enumerate(rows)} if rows else []


def read_summary(path):
    """The JSON object of a darkscope --summary file; SummaryError (naming the file) when it
    cannot be read or holds something else."""
    try:
        with open(path) as f:
            summary = json.load(f)
    except OSError as e:
        raise SummaryError(f"{path}: {e.strerror}")
    except ValueError:
        raise SummaryError(f"{path}: not a darkscope summary (bad JSON)")
    if not isinstance(summary, dict):
        raise SummaryError(f"{path}: not a darkscope summary")
    return summary


_tables = None


def load_tables():
    """darkscope_tables.json: {"countries": {"JP": "Japan", ...}, "udp_service_ports": [17, ...]}
    (every country code darkscope knows with its English short name; darkscope's default
    --udp-service-ports). Read once."""
    global _tables
    if _tables is None:
        with open(TABLES_FILE, encoding="utf-8") as f:
            tables = json.load(f)
        if not isinstance(tables.get("countries"), dict) or \
                not isinstance(tables.get("udp_service_ports"), list):
            raise ValueError(f"{TABLES_FILE}: want countries and udp_service_ports")
        _tables = tables
    return _tables
