"""A brand's issued serials at scale: import of N serials into the embedded code bank (time, disk, memory), then
lookups per second of issued and never-issued serials, as the codes detector makes one per decoded payload.

    python benchmarks/serial_lookup.py [--serials 10000000] [--lookups 200000]

The serials are random, non-sequential 12-character codes (as Amazon Transparency's are), in a CSV with a
product, a batch and an issue date per row (batches of 10,000 units of one product on one day). Baseline measured in the same run:
reading the same CSV with Python's csv module and nothing else (import / parse ratio), and a lookup in a Python
set of 1 M serials (what holding the codes in memory would cost per lookup, which 10 M per brand rules out).
Goal: import of 10 M <= 60 s, >= 50,000 lookups/s.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livewarden.registry.issued import IssuedCodes  # noqa: E402
from livewarden.registry.schema import CodeScheme  # noqa: E402

ALPHABET = np.frombuffer(b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ", np.uint8)  # no 0/O, 1/I: read off a label


def serials(n: int, seed: int) -> np.ndarray:
    """n distinct random 12-character serials (as bytes rows)."""
    rng = np.random.default_rng(seed)
    codes = ALPHABET[rng.integers(0, len(ALPHABET), size=(n, 12))]
    return np.unique(codes.view("S12").ravel())  # 32^12: collisions are ~0, unique() also shuffles nothing away


def write_csv(path: Path, codes: np.ndarray, seed: int) -> None:
    """In issue order (random serials, not sorted): batches of 10,000 units, each of one product on one day."""
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(len(codes))
    with path.open("w") as f:
        f.write("serial,product,batch,issued_on\n")
        for start in range(0, len(codes), 1_000_000):
            lines = []
            for n, i in enumerate(order[start:start + 1_000_000], start=start):
                batch = n // 10_000
                lines.append(f"{codes[i].decode()},p{batch % 100:03d},B{batch:04d},2026-{1 + batch % 12:02d}-15\n")
            f.writelines(lines)


def import_alone(scheme: CodeScheme, db: Path, csv_path: Path):
    """The import in a fresh process, so its peak memory is the import's alone."""
    report = IssuedCodes(db).import_file(scheme, csv_path, {f"p{i:03d}" for i in range(100)})
    peak_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmHWM:"))  # (ru_maxrss would carry the parent's peak across the exec)
    return report, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serials", type=int, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    print(f"serial_lookup: {args.serials:,} serials, {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory(prefix="serial-lookup-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        codes = serials(args.serials, args.seed)
        write_csv(tmp / "issued.csv", codes, args.seed)
        print(f"  wrote the CSV ({(tmp / 'issued.csv').stat().st_size / 2**20:,.0f} MB) in "
              f"{time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        with (tmp / "issued.csv").open(newline="") as f:
            rows = sum(1 for _ in csv.reader(f))
        parse_s = time.perf_counter() - start

        scheme = CodeScheme(id="brand-tags", brand="brand", kind="url", template="https://v.example/{serial}",
                            pattern="[2-9A-HJ-NP-Z]{12}")
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:  # its own memory
            report, peak = pool.submit(import_alone, scheme, tmp / "codes.db", tmp / "issued.csv").result()
        bank = IssuedCodes(tmp / "codes.db")
        disk = sum(p.stat().st_size for p in tmp.glob("codes.db*"))
        print(f"\nimport: {report.accepted:,} serials in {report.seconds:.1f} s "
              f"({report.accepted / report.seconds:,.0f} rows/s), {report.bad_rows} refused; "
              f"disk {disk / 2**20:,.0f} MB ({disk / max(report.accepted, 1):.0f} B/serial); "
              f"peak memory of the importing process {peak:,.0f} MB")
        print(f"  baseline, the CSV read by csv.reader alone ({rows - 1:,} rows): {parse_s:.1f} s; "
              f"import / parse = {report.seconds / parse_s:.1f}x")

        rng = np.random.default_rng(args.seed + 2)
        issued = [c.decode() for c in codes[rng.integers(0, len(codes), args.lookups // 2)]]
        fake = [c.decode() for c in serials(args.lookups // 2, args.seed + 99)]
        probes = issued + fake
        rng.shuffle(probes)
        start = time.perf_counter()
        found = sum(bank.lookup("brand-tags", s) is not None for s in probes)
        lookup_s = time.perf_counter() - start
        start = time.perf_counter()
        for s in probes[:20_000]:
            bank.status("brand-tags", s)
        status_s = (time.perf_counter() - start) / 20_000

        memory = set(c.decode() for c in codes[:1_000_000])
        start = time.perf_counter()
        sum(s in memory for s in probes)
        set_s = time.perf_counter() - start
        print(f"\nlookups: {len(probes) / lookup_s:,.0f}/s on one thread ({found:,} of {len(probes):,} issued, "
              f"expected ~{len(issued):,}); a full status (issued + verifications + live rooms): "
              f"{1 / status_s:,.0f}/s")
        print(f"  baseline, a Python set of 1 M serials: {len(probes) / set_s:,.0f}/s; bank / set = "
              f"{set_s / lookup_s:.3f}x")
        print(f"\ngoal: import of 10 M <= 60 s ({'met' if report.seconds <= 60 or args.serials < 10_000_000 else 'NOT met'}"
              f"{'' if args.serials >= 10_000_000 else ', at a smaller N'}), >= 50,000 lookups/s "
              f"({'met' if len(probes) / lookup_s >= 50_000 else 'NOT met'})")


if __name__ == "__main__":
    main()
