"""scripts/darkscope_client.py: one request per connection on a fake DPDK telemetry v2 socket
(missing socket, refused connection and bad replies told apart), the ranked replies back to
lists and forth, --summary files, and darkscope_tables.json's schema."""

import json
import os
import socket
import threading

import pytest

import darkscope_client as client


class FakeTelemetry(threading.Thread):
    """Answers each connection's one command with REPLY (bytes), as DPDK 22.11 does: a greeting,
    then the reply; counts the connections it served and whether each was closed after."""

    def __init__(self, path, reply):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(path)
        self.sock.listen(4)
        self.reply = reply
        self.commands = []
        self.closed_by_client = []

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.send(json.dumps({"version": "DPDK 22.11.0", "pid": os.getpid(),
                                      "max_output_len": 16384}).encode())
                self.commands.append(conn.recv(1024).decode())
                conn.send(self.reply(self.commands[-1]))
                conn.settimeout(5)
                self.closed_by_client.append(conn.recv(1024) == b"")


def serve(tmp_path, reply):
    path = str(tmp_path / "dpdk_telemetry.v2")
    server = FakeTelemetry(path, reply)
    server.start()
    return server, path


def test_request_returns_the_decoded_reply(tmp_path):
    server, path = serve(tmp_path, lambda cmd: json.dumps({cmd.split(",")[0]: [1, 2]}).encode())
    assert client.request(path, "/darkscope/top/ports,2") == {"/darkscope/top/ports": [1, 2]}
    assert server.commands == ["/darkscope/top/ports,2"]


def test_one_connection_per_request_closed_after(tmp_path):
    # DPDK 22.11 serves a few connections, each with a blocking read: none is kept open.
    server, path = serve(tmp_path, lambda cmd: b'{"/x": 1}')
    for _ in range(3):
        client.request(path, "/x")
    server.sock.close()
    server.join(10)
    assert server.closed_by_client == [True, True, True]


def test_query_unwraps_the_command_name(tmp_path, monkeypatch):
    monkeypatch.setattr(client, "RUNTIME_DIR", str(tmp_path))
    (tmp_path / "p").mkdir()
    server, _ = serve(tmp_path / "p", lambda cmd: json.dumps({cmd.split(",")[0]: {"a": 1}})
                      .encode())
    assert client.query("p", "/darkscope/stats") == {"a": 1}
    assert client.query("p", "/ethdev/stats,0") == {"a": 1}


def test_missing_socket_is_socket_missing(tmp_path):
    with pytest.raises(client.SocketMissing) as e:
        client.request(str(tmp_path / "none"), "/")
    assert str(e.value) == "%s not found" % (tmp_path / "none")


def test_socket_nobody_listens_on_says_so(tmp_path):
    path = str(tmp_path / "dpdk_telemetry.v2")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)
    s.close()
    with pytest.raises(client.TelemetryError) as e:
        client.request(path, "/")
    assert not isinstance(e.value, (client.SocketMissing, client.SocketDenied))
    assert "exists but nothing answers" in str(e.value)


def test_reply_not_json_says_so(tmp_path):
    _, path = serve(tmp_path, lambda cmd: b"{/x:null}")
    with pytest.raises(client.TelemetryError) as e:
        client.request(path, "/x")
    assert "reply is not JSON" in str(e.value)


def test_no_reply_within_the_timeout_says_so(tmp_path):
    path = str(tmp_path / "dpdk_telemetry.v2")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)
    s.listen(1)  # accepted by the kernel, never greeted
    try:
        with pytest.raises(client.TelemetryError) as e:
            client.request(path, "/", timeout=0.2)
    finally:
        s.close()
    assert "no reply from %s within 0.2 s" % path == str(e.value)


def test_ranked_dict_back_to_a_list():
    assert client.ranked({"2": "b", "10": "c", "1": "a"}) == ["a", "b", "c"]
    assert client.ranked([]) == [] and client.ranked({}) == []
    with pytest.raises(ValueError):
        client.ranked({"packets": 1})


def test_unrank_at_any_depth():
    reply = {"/darkscope/workers": {"1": {"lcore": 1}, "2": {"lcore": 2}},
             "counts": {"1": 5, "2": 6}}
    assert client.unrank(reply) == {"/darkscope/workers": [{"lcore": 1}, {"lcore": 2}],
                                    "counts": {"1": 5, "2": 6}}


def test_rank_as_darkscope_sends_lists():
    assert client.rank([{"a": 1}, {"a": 2}]) == {"1": {"a": 1}, "2": {"a": 2}}
    assert client.rank([]) == []
    assert client.ranked(client.rank([{"a": 1}])) == [{"a": 1}]


def test_read_summary(tmp_path):
    good = tmp_path / "s.json"
    good.write_text('{"/darkscope/stats": {"packets": 3}}')
    assert client.read_summary(str(good)) == {"/darkscope/stats": {"packets": 3}}
    for text, message in (("{bad", "not a darkscope summary (bad JSON)"),
                          ("[1]", "not a darkscope summary")):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(client.SummaryError) as e:
            client.read_summary(str(bad))
        assert str(e.value) == "%s: %s" % (bad, message)
    with pytest.raises(client.SummaryError) as e:
        client.read_summary(str(tmp_path / "none.json"))
    assert str(e.value) == "%s: No such file or directory" % (tmp_path / "none.json")


def test_tables_schema():
    # {"countries": {"JP": "Japan", ...}, "udp_service_ports": [17, ...]} and nothing else.
    with open(client.TABLES_FILE, encoding="utf-8") as f:
        tables = json.load(f)
    assert sorted(tables) == ["countries", "udp_service_ports"]
    countries = tables["countries"]
    assert len(countries) >= 240 and countries["JP"] == "Japan" and countries["US"] == \
        "United States"
    bad = {k: v for k, v in countries.items() if not (len(k) == 2 and k.isascii() and
                                                      k.isupper() and isinstance(v, str) and v)}
    assert not bad, bad
    ports = tables["udp_service_ports"]
    assert ports and all(isinstance(p, int) and 0 < p < 65536 for p in ports) and \
        ports == sorted(set(ports)), ports
    assert {53, 123, 1900, 11211} <= set(ports)
    assert client.load_tables() == tables
