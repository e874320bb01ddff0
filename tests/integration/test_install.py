"""`meson install` into a staging directory puts everything where the unit and the README say:
the binary, the scripts, the configuration in /etc/darkscope/, the unit, the docs and the
Prometheus rules; every path the unit names exists in the stage; a second install keeps an
edited configuration; and `systemd-analyze verify --root` accepts the staged unit (skipped with
the reason where systemd-analyze cannot run)."""
import os
import re
import shutil
import subprocess
import sys

import dsharness as h
import pytest


def test_install(env, pytestconfig):
    build = pytestconfig.getoption("build_root")
    stage = os.path.join(env.tmp, "stage")


    def install():
        p = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", stage],
                           capture_output=True, text=True)
        if p.returncode != 0:
            h.fail("meson install failed:\n%s%s" % (p.stdout, p.stderr))
        return p.stdout


    def staged(path):
        return os.path.join(stage, path.lstrip("/"))


    install()
    errors = []
    # Where the install puts things, from the build's own options.
    opts = subprocess.run(["meson", "introspect", "--buildoptions", build], capture_output=True,
                          text=True, check=True).stdout
    import json  # noqa: E402
    options = {o["name"]: o["value"] for o in json.loads(opts)}
    prefix = options["prefix"]
    sysconfdir = os.path.join(prefix, options["sysconfdir"])
    bindir = os.path.join(prefix, options["bindir"])
    docdir = os.path.join(prefix, options["datadir"], "doc", "darkscope")
    unit = os.path.join(prefix, "lib", "systemd", "system", "darkscope.service")
    for path, executable in ((os.path.join(bindir, "darkscope"), True),
                             (os.path.join(bindir, "darkscope-ctl"), True),
                             (os.path.join(bindir, "darkscope-report"), True),
                             (os.path.join(sysconfdir, "darkscope", "darkscope.conf"), False),
                             (unit, False),
                             (os.path.join(docdir, "README.md"), False),
                             (os.path.join(docdir, "operations.md"), False),
                             (os.path.join(prefix, options["datadir"], "darkscope", "prometheus",
                                           "darkscope-rules.yml"), False)):
        if not os.path.isfile(staged(path)):
            errors.append("not installed: %s" % path)
        elif executable and not os.access(staged(path), os.X_OK):
            errors.append("not executable: %s" % path)
    if sysconfdir != "/etc" and prefix == "/usr/local":
        errors.append("sysconfdir is %s: the unit and README expect /etc/darkscope" % sysconfdir)

    # Every path the unit names is in the stage.
    with open(staged(unit)) as f:
        text = f.read()
    named = set(re.findall(r"(?:ExecStart=|ConditionPathExists=|--config )(/\S+)", text))
    named |= set(re.findall(r"file://(/\S+)", text))
    if not named:
        errors.append("the unit names no paths:\n" + text)
    for path in sorted(named):
        if not os.path.exists(staged(path)):
            errors.append("the unit names %s, which the install does not create" % path)
    if "Type=notify" not in text or "WatchdogSec=" not in text:
        errors.append("the unit is not Type=notify with a watchdog")

    # A second install keeps an edited configuration.
    conf = staged(os.path.join(sysconfdir, "darkscope", "darkscope.conf"))
    with open(conf, "a") as f:
        f.write("# edited by the operator\n")
    install()
    with open(conf) as f:
        if "# edited by the operator" not in f.read():
            errors.append("a second meson install overwrote the edited configuration")

    # The installed binary runs.
    p = subprocess.run([staged(os.path.join(bindir, "darkscope")), "--version"],
                       capture_output=True, text=True)
    if p.returncode != 0 or "darkscope" not in p.stdout:
        errors.append("installed darkscope --version: %d %s" % (p.returncode, p.stdout + p.stderr))

    h.no_errors(errors) if errors else None
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("SKIP: systemd-analyze is not installed; everything else passed")
        pytest.skip("see the message above")
    # --root resolves the unit's paths in the stage; the units it depends on (network-online.target,
    # dev-hugepages.mount) come from the host's systemd, linked into the stage.
    for d in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if os.path.isdir(d) and not os.path.exists(staged(d)):
            os.makedirs(os.path.dirname(staged(d)), exist_ok=True)
            shutil.copytree(d, staged(d), symlinks=True)
            break
    # The commands the unit runs besides darkscope (ExecReload's kill) are the host's as well.
    for tool in ("/bin/kill",):
        real = os.path.realpath(tool)
        for path in {tool, real}:
            if os.path.exists(real) and not os.path.exists(staged(path)):
                os.makedirs(os.path.dirname(staged(path)), exist_ok=True)
                shutil.copy2(real, staged(path))
    p = subprocess.run([analyze, "verify", "--root=" + stage, staged(unit)],
                       capture_output=True, text=True)
    print(p.stdout + p.stderr)
    if p.returncode != 0:
        if "Failed to" in p.stderr and "darkscope" not in p.stderr:
            print("SKIP: systemd-analyze verify cannot run here: %s" % p.stderr.strip())
            pytest.skip("see the message above")
        errors.append("systemd-analyze verify: %s" % (p.stdout + p.stderr))
    h.no_errors(errors)
