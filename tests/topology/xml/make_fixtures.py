#!/usr/bin/python3
"""Writes the hwloc XML topologies the planner tests load (run it from anywhere; the files
land next to this script). Kept so the fixtures can be changed without editing XML by hand.

CPU numbering follows Linux on Intel servers: the first hardware thread of every core is
numbered first (cpu = core), SMT siblings after all of them (cpu = core + number of cores).
The PCI part mirrors what `lstopo --of xml --filter io:all` writes: a host Bridge holding
PCIDev objects, attached under the Package (or the Machine) whose locality it has.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def mask(bits):
    value = 0
    for b in bits:
        value |= 1 << b
    return "0x%08x" % value


class Writer:
    def __init__(self):
        self.gp = 1
        self.lines = []

    def gp_index(self):
        self.gp += 1
        return self.gp

    def emit(self, depth, text):
        self.lines.append("  " * depth + text)


def sets(cpus, nodes):
    c, n = mask(cpus), mask(nodes)
    return ('cpuset="%s" complete_cpuset="%s" nodeset="%s" complete_nodeset="%s"'
            % (c, c, n, n))


def pci_bridge(w, depth, bus, devices):
    """devices: list of (busid, description)."""
    w.emit(depth, '<object type="Bridge" gp_index="%d" bridge_type="0-1" depth="0" '
           'bridge_pci="0000:[%s-%s]">' % (w.gp_index(), bus, bus))
    for busid, desc in devices:
        w.emit(depth + 1, '<object type="PCIDev" gp_index="%d" pci_busid="%s" '
               'pci_type="0200 [8086:1593] [8086:0002] 02" pci_link_speed="7.876923">'
               % (w.gp_index(), busid))
        w.emit(depth + 2, '<info name="PCIVendor" value="Intel Corporation"/>')
        w.emit(depth + 2, '<info name="PCIDevice" value="%s"/>' % desc)
        w.emit(depth + 1, '</object>')
    w.emit(depth, '</object>')


def machine(name, packages, cores_per_package, threads, numa=True, pci=None,
            machine_pci=None):
    """pci: {package index: (bus, [(busid, desc)])}; machine_pci: (bus, devices) under the
    Machine itself (no single NUMA locality)."""
    total_cores = packages * cores_per_package
    all_cpus = [c + t * total_cores for c in range(total_cores) for t in range(threads)]
    all_nodes = list(range(packages)) if numa else [0]
    w = Writer()
    w.emit(0, '<?xml version="1.0" encoding="UTF-8"?>')
    w.emit(0, '<!DOCTYPE topology SYSTEM "hwloc2.dtd">')
    w.emit(0, '<topology version="2.0">')
    c, n = mask(all_cpus), mask(all_nodes)
    w.emit(1, '<object type="Machine" os_index="0" cpuset="%s" complete_cpuset="%s" '
           'allowed_cpuset="%s" nodeset="%s" complete_nodeset="%s" allowed_nodeset="%s" '
           'gp_index="1">' % (c, c, c, n, n, n))
    w.emit(2, '<info name="Backend" value="Synthetic"/>')
    w.emit(2, '<info name="Fixture" value="%s"/>' % name)
    if not numa:
        # What hwloc builds when the OS reports no NUMA: one node 0 for the whole Machine, and
        # no Package level here (as some VMs show it).
        w.emit(2, '<object type="NUMANode" os_index="0" %s gp_index="%d" '
               'local_memory="68719476736"/>' % (sets(all_cpus, [0]), w.gp_index()))
        for core in range(total_cores):
            core_cpus = [core + t * total_cores for t in range(threads)]
            w.emit(2, '<object type="Core" os_index="%d" %s gp_index="%d">'
                   % (core, sets(core_cpus, [0]), w.gp_index()))
            for cpu in core_cpus:
                w.emit(3, '<object type="PU" os_index="%d" %s gp_index="%d"/>'
                       % (cpu, sets([cpu], [0]), w.gp_index()))
            w.emit(2, '</object>')
        packages = 0
    for p in range(packages):
        cores = range(p * cores_per_package, (p + 1) * cores_per_package)
        cpus = [c + t * total_cores for c in cores for t in range(threads)]
        nodes = [p] if numa else [0]
        w.emit(2, '<object type="Package" os_index="%d" %s gp_index="%d">'
               % (p, sets(cpus, nodes), w.gp_index()))
        if numa:
            w.emit(3, '<object type="NUMANode" os_index="%d" %s gp_index="%d" '
                   'local_memory="68719476736"/>' % (p, sets(cpus, nodes), w.gp_index()))
        for core in cores:
            core_cpus = [core + t * total_cores for t in range(threads)]
            w.emit(3, '<object type="Core" os_index="%d" %s gp_index="%d">'
                   % (core, sets(core_cpus, nodes), w.gp_index()))
            for cpu in core_cpus:
                w.emit(4, '<object type="PU" os_index="%d" %s gp_index="%d"/>'
                       % (cpu, sets([cpu], nodes), w.gp_index()))
            w.emit(3, '</object>')
        if pci and p in pci:
            bus, devices = pci[p]
            pci_bridge(w, 3, bus, devices)
        w.emit(2, '</object>')
    if machine_pci:
        bus, devices = machine_pci
        pci_bridge(w, 2, bus, devices)
    w.emit(1, '</object>')
    w.emit(1, '<support name="discovery.pu"/>')
    if numa:
        w.emit(1, '<support name="discovery.numa"/>')
    w.emit(0, '</topology>')
    path = os.path.join(HERE, name + ".xml")
    with open(path, "w") as f:
        f.write("\n".join(w.lines) + "\n")
    return path


def main():
    nic = "Ethernet Controller E810-C for QSFP"
    # Two sockets x 4 cores x 2 threads; the capture NIC (two ports) on socket 1, a second
    # card on socket 0.
    machine("two-socket-smt", 2, 4, 2,
            pci={0: ("18", [("0000:18:00.0", nic)]),
                 1: ("3b", [("0000:3b:00.0", nic), ("0000:3b:00.1", nic)])})
    # A small single-socket box: 2 cores, no SMT, one NIC.
    machine("single-socket-2core", 1, 2, 1, pci={0: ("01", [("0000:01:00.0", nic)])})
    # One socket, 4 cores x 2 threads: SMT siblings only when physical cores run out.
    machine("single-socket-4core-smt", 1, 4, 2, pci={0: ("01", [("0000:01:00.0", nic)])})
    # No NUMA information from the OS: hwloc's single node 0 spans the Machine; the NIC hangs
    # off the Machine.
    machine("no-numa", 1, 4, 1, numa=False, machine_pci=("00", [("0000:00:03.0", nic)]))
    # Two sockets whose NIC sits above both: locality unknown.
    machine("two-socket-nic-above", 2, 2, 1, machine_pci=("00", [("0000:00:03.0", nic)]))
    # One core, one thread: too small for a worker and a stats core.
    machine("one-core", 1, 1, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
