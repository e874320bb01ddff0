"""What a darkscope run leaves behind: after a clean exit, nothing of what its EAL created (the
runtime directory /var/run/dpdk/PREFIX with its fbarray, hugepage_info and config files, and its
hugepage files PREFIXmap_N), while another darkscope's files stay while it runs."""
import os

import pytest

import dsharness as h


def hugepage_dirs():
    """The hugetlbfs mounts, where EAL keeps its hugepage files."""
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[2] == "hugetlbfs"]


def hugepage_files(prefix):
    out = []
    for d in hugepage_dirs():
        try:
            names = os.listdir(d)
        except OSError:
            continue
        out += [os.path.join(d, n) for n in names if n.startswith(prefix + "map_") and
                n[len(prefix) + 4:].isdigit()]
    return out


def free_hugepages():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                return int(line.split()[1])
    return 0


def run_args(env, prefix, memory):
    args = env.base_args(prefix) + ["--port", "net_null0", "--sensor", "a=192.0.2.0/24",
                                    "--link-wait", "0", "--duration", "1"]
    if memory == "hugepages":
        args.remove("--no-huge")
    return args


@pytest.mark.parametrize("memory", ["no-huge", "hugepages"])
def test_clean_exit_leaves_nothing_behind(env, memory):
    if memory == "hugepages" and free_hugepages() < 300:
        pytest.skip("fewer than 300 free hugepages")
    prefix = env.prefix + memory.replace("-", "")
    env.run(run_args(env, prefix, memory), timeout=120)
    runtime_dir = os.path.join("/var/run/dpdk", prefix)
    left = sorted(os.listdir(runtime_dir)) if os.path.exists(runtime_dir) else []
    assert left == [], "%s still holds %s after a clean exit" % (runtime_dir, left)
    pages = hugepage_files(prefix)
    assert pages == [], "%d hugepage files of %s left, e.g. %s" % (len(pages), prefix, pages[:3])


def test_another_runs_files_stay(env):
    # One darkscope exits while another runs: the running one's files stay, and it answers.
    first = env.start(env.base_args() + ["--port", "net_null0", "--sensor", "a=192.0.2.0/24",
                                         "--link-wait", "0", "--duration", "120"])
    h.wait_socket(env.prefix, first)
    runtime_dir = os.path.join("/var/run/dpdk", env.prefix)
    before = sorted(os.listdir(runtime_dir))
    env.run(run_args(env, env.prefix + "second", "no-huge"), timeout=120)
    after = sorted(os.listdir(runtime_dir))
    stats = h.telemetry(env.prefix, "/darkscope/stats")
    assert h.stop(first) == 0
    assert after == before, "the running darkscope's files changed: %s -> %s" % (before, after)
    assert isinstance(stats, dict) and "packets" in stats, stats
