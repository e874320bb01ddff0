#!/usr/bin/python3
"""Source networks for the benchmark capture, drawn from the installed ASN database.

    networks.py ASN_IPV4_CSV OUT_CSV [--every N] [--seed S]

Writes darkscope-gen --source-networks rows (prefix,country,asn,organisation) from every N-th
range of an ip-location-db ASN CSV (start,end,asn,organisation), split into CIDR blocks and
shuffled with a fixed seed: the generator gives earlier rows more sources, so shuffling spreads
the heavy networks over the whole address space instead of the lowest addresses. The sources
then sit in announced address space all over the map, which is what makes the country and ASN
lookups of the benchmark realistic (cache misses over the whole table, few misses to "none").
Country is "ZZ": the benchmark never reads the generator's per-country truth.
"""

import argparse
import csv
import ipaddress
import random


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("asn_csv")
    p.add_argument("out_csv")
    p.add_argument("--every", type=int, default=8, help="take every N-th range [8]")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--min-prefix", type=int, default=24,
                   help="skip blocks longer than this prefix length [24]")
    args = p.parse_args()

    rows = []
    with open(args.asn_csv, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if i % args.every or len(row) < 3:
                continue
            try:
                first = ipaddress.IPv4Address(row[0])
                last = ipaddress.IPv4Address(row[1])
                asn = int(row[2])
            except ValueError:
                continue
            org = row[3] if len(row) > 3 else ""
            for net in ipaddress.summarize_address_range(first, last):
                if net.prefixlen <= args.min_prefix:
                    rows.append((str(net), "ZZ", asn, org))
    random.Random(args.seed).shuffle(rows)
    with open(args.out_csv, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        for r in rows:
            w.writerow(r)
    total = sum(ipaddress.ip_network(r[0]).num_addresses for r in rows)
    print(f"networks.py: {len(rows)} networks, {total} addresses -> {args.out_csv}")


if __name__ == "__main__":
    main()
