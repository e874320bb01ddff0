"""pytest set-up shared by the Python tests: the options meson passes (paths of the binaries and
scripts under test), scripts/ on the import path (darkscope_client), and exit statuses meson
understands: 77 (skipped) when every test was skipped, a failure when no test was collected."""

import os
import sys

import pytest

SKIP = 77  # meson's exit status of a skipped test
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_addoption(parser):
    group = parser.getgroup("darkscope")
    group.addoption("--darkscope", metavar="PATH", help="the darkscope binary under test")
    group.addoption("--source-root", metavar="DIR", default=SOURCE_ROOT,
                    help="darkscope's source tree (scripts/, conf/; default: this checkout)")
    group.addoption("--flood-pcap", metavar="PATH", help="tests/tools/flood_pcap")
    group.addoption("--paced-gen", metavar="PATH", help="tests/tools/ds_paced_gen")
    group.addoption("--history-writer", metavar="PATH",
                    help="tests/report/report_history_writer")
    group.addoption("--report-script", metavar="PATH", help="scripts/darkscope-report")
    group.addoption("--sketch-writer", metavar="PATH", help="tests/fleet/sketch_writer")
    group.addoption("--artifacts", metavar="DIR", help="where a test keeps what it made")
    group.addoption("--build-root", metavar="DIR", help="meson's build directory (the install test)")


def pytest_configure(config):
    # The tests import darkscope_client (the telemetry socket, ranked replies, summaries) from
    # the scripts they test.
    sys.path.insert(0, os.path.join(config.getoption("source_root"), "scripts"))


def option_path(config, name):
    """The path an option gives; the tests that need it fail when it is missing."""
    value = config.getoption(name)
    if not value:
        pytest.fail(f"--{name.replace('_', '-')} PATH is needed", pytrace=False)
    return value


@pytest.fixture(scope="session")
def source_root(pytestconfig):
    return pytestconfig.getoption("source_root")


@pytest.fixture(scope="session")
def darkscope(pytestconfig):
    return option_path(pytestconfig, "darkscope")


@pytest.fixture(scope="session")
def flood_pcap(pytestconfig):
    return option_path(pytestconfig, "flood_pcap")


@pytest.fixture(scope="session")
def paced_gen(pytestconfig):
    return option_path(pytestconfig, "paced_gen")


# What the session's tests came to, for the exit status meson reads.
_outcomes = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_collectreport(report):
    if report.skipped:  # a whole module skipped
        _outcomes["skipped"] += 1


def pytest_runtest_logreport(report):
    if report.failed:
        _outcomes["failed"] += 1
    elif report.skipped:
        _outcomes["skipped"] += 1
    elif report.when == "call":
        _outcomes["passed"] += 1


def pytest_sessionfinish(session, exitstatus):
    if _outcomes["passed"] or _outcomes["failed"]:
        return
    if _outcomes["skipped"] and exitstatus in (pytest.ExitCode.OK,
                                               pytest.ExitCode.NO_TESTS_COLLECTED):
        sys.stderr.write("every test was skipped (the SKIPPED lines say why): exit status 77, skipped for meson\n")
        session.exitstatus = SKIP
    elif exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        sys.stderr.write("no test collected: a test file that checks nothing fails\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
