"""darkscope-ctl against a running darkscope's telemetry socket, as the clients meet it: as a
user who may not reach the socket, and beside other clients. DPDK 22.11's telemetry serves at most
10 connections at a time, each with a blocking read, so darkscope's clients connect per request
and close (docs/operations.md)."""
import os
import pwd
import shutil
import socket
import stat
import subprocess

import pytest

import darkscope_client as client
import dsharness as h

TELEMETRY_CONNECTIONS = 10  # DPDK 22.11's MAX_CONNECTIONS (lib/telemetry/telemetry.c)


@pytest.fixture(scope="module")
def running(env):
    """A live darkscope (net_null, so it runs until stopped) and its socket path."""
    proc = env.start(env.base_args() + ["--port", "net_null0", "--sensor", "a=192.0.2.0/24",
                                        "--link-wait", "0", "--duration", "300"])
    h.wait_socket(env.prefix, proc)
    yield client.socket_path(env.prefix)
    assert h.stop(proc) == 0


def ctl(env, *args, user=None):
    cmd = ["/usr/bin/python3", env.ctl, "-f", env.prefix] + list(args)
    if user is not None:
        cmd = [shutil.which("runuser"), "-u", user, "--"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def idle_connections(path, n):
    """n connections that took the greeting and then say nothing, as a stuck client would."""
    held = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(5)
        s.connect(path)
        assert s.recv(1024), "no greeting"
        held.append(s)
    return held


def closed_directory(path, uid):
    """The outermost directory on the way to path that the user uid may not look into (searched
    from the modes here, as root), or None."""
    ancestors = []
    d = os.path.dirname(path)
    while True:
        ancestors.append(d)
        if os.path.dirname(d) == d:
            break
        d = os.path.dirname(d)
    for d in reversed(ancestors):
        st = os.stat(d)
        bit = stat.S_IXUSR if st.st_uid == uid else stat.S_IXOTH
        if not st.st_mode & bit:
            return d
    return None


def test_another_user_is_told_permission_denied_not_not_found(env, running):
    if os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs root and runuser to run darkscope-ctl as nobody")
    closed = closed_directory(running, pwd.getpwnam("nobody").pw_uid)
    rc, out, err = ctl(env, "stats", user="nobody")
    assert rc == 1 and out == "", "rc=%d %s%s" % (rc, out, err)
    assert "not found" not in err and "no darkscope running" not in err, err
    # The socket exists: the part of its path nobody may use is named.
    want = ("permission denied on %s:" % closed if closed else
            "permission denied on %s: the socket exists" % running)
    assert want in err, "want %r in %r" % (want, err)


def test_ctl_answers_50_times_beside_5_idle_connections(env, running):
    held = idle_connections(running, 5)
    try:
        failures = []
        for i in range(50):
            rc, out, err = ctl(env, "--json", "stats")
            if rc != 0 or '"packets"' not in out:
                failures.append("request %d: rc=%d %s" % (i + 1, rc, err.strip()))
    finally:
        for s in held:
            s.close()
    h.no_errors(failures)


def test_all_connections_held_is_said_not_misread(env, running):
    # Every connection DPDK serves is held by idle clients: darkscope-ctl says so (DPDK closes
    # the extra connection without a greeting), and answers again once they are gone.
    held = idle_connections(running, TELEMETRY_CONNECTIONS)
    try:
        rc, out, err = ctl(env, "stats")
    finally:
        for s in held:
            s.close()
    assert rc == 1 and "%d connections" % TELEMETRY_CONNECTIONS in err, \
        "rc=%d %s%s" % (rc, out, err)
    rc, out, err = ctl(env, "stats")
    assert rc == 0, "after the idle clients left: rc=%d %s" % (rc, err)
