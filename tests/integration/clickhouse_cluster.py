#!/usr/bin/python3
"""A throw-away ClickHouse cluster for the fleet tests: N clickhouse-server processes on loopback
ports under a temporary directory, each a shard of the cluster `fleet` (remote_servers in every
config), with the users `default` (no password) and `fleet` (password `fleet-secret`). Stopped
by stop() (and at exit, whatever happens to the test)."""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

SERVER = "/usr/sbin/clickhouse-server"
CLUSTER = "fleet"
USER, PASSWORD = "fleet", "fleet-secret"


def available():
    return os.access(SERVER, os.X_OK)


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


USERS_XML = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default><password></password><networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <%s><password>%s</password><networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></%s>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
""" % (USER, PASSWORD, USER)


class Server:
    def __init__(self, directory, http_port, tcp_port, shards_xml, users_xml):
        self.directory = directory
        self.http_port = http_port
        self.tcp_port = tcp_port
        os.makedirs(os.path.join(directory, "data"), exist_ok=True)
        os.makedirs(os.path.join(directory, "tmp"), exist_ok=True)
        self.config = os.path.join(directory, "config.xml")
        with open(self.config, "w") as f:
            f.write("""<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%(d)s/server.log</log><errorlog>%(d)s/error.log</errorlog>
    <console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>%(http)d</http_port>
  <tcp_port>%(tcp)d</tcp_port>
  <path>%(d)s/data/</path>
  <tmp_path>%(d)s/tmp/</tmp_path>
  <users_config>%(users)s</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <remote_servers><%(cluster)s>%(shards)s</%(cluster)s></remote_servers>
</yandex>
""" % {"d": directory, "http": http_port, "tcp": tcp_port, "users": users_xml,
                "cluster": CLUSTER, "shards": shards_xml})
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.http_port

    def start(self, timeout=60):
        log = open(os.path.join(self.directory, "stdout.log"), "ab")
        self.proc = subprocess.Popen([SERVER, "--config-file=" + self.config], stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.directory)
        atexit.register(self._kill)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("clickhouse-server exited %d; see %s" % (
                    self.proc.returncode, self.directory))
            try:
                with urllib.request.urlopen(self.url + "ping", timeout=2) as r:
                    if r.read().startswith(b"Ok."):
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise RuntimeError("clickhouse-server on %d did not answer /ping" % self.http_port)

    def stop(self, timeout=60):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def query(self, sql, database=None):
        """One query over the HTTP interface; returns the body as text."""
        params = {"query": sql}
        if database:
            params["database"] = database
        req = urllib.request.Request(self.url + "?" + urllib.parse.urlencode(params), data=b"")
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode()

    def rows(self, sql, database=None):
        """Tab-separated result rows as lists of strings."""
        out = self.query(sql + " FORMAT TabSeparated", database)
        return [line.split("\t") for line in out.splitlines()]


class Cluster:
    """`shards` servers, each one shard of the cluster `fleet`."""

    def __init__(self, directory, shards=2):
        self.directory = directory
        ports = [(_free_port(), _free_port()) for _ in range(shards)]
        shards_xml = "".join(
            "<shard><replica><host>127.0.0.1</host><port>%d</port></replica></shard>" % tcp
            for _, tcp in ports)
        users = os.path.join(directory, "users.xml")
        os.makedirs(directory, exist_ok=True)
        with open(users, "w") as f:
            f.write(USERS_XML)
        self.servers = [Server(os.path.join(directory, "shard%d" % i), http, tcp, shards_xml,
                               users) for i, (http, tcp) in enumerate(ports)]

    def start(self):
        for s in self.servers:
            s.start()
        return self

    def stop(self):
        for s in self.servers:
            s.stop()

    def remove(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
