"""The bank of registered broadcasts: every banked frame's PDQ hash, searchable by Hamming distance.

Each entry is (hash, broadcast, time in the broadcast, variant). The index is faiss's: an exact
`IndexBinaryFlat` while the bank is small, an `IndexBinaryIVF` (k-means cells over the codes, `nprobe`
cells searched) once it holds `IVF_FROM` entries, chosen on benchmarks/bank_lookup.py (at 1 M random
hashes: flat 1,600 lookups/s; faiss's multi-index hashing 1,080; IVF 1,024 cells x 64 probed 10,000 with
98% recall of matches 0-31 bits away, the hardest case). Entries added while rooms air go into the live index at
once (an IVF keeps its cells; new codes join the nearest); `rebuild()` trains a fresh index from everything
in a background thread and swaps it in, lookups going on against the old one meanwhile.

`save`/`load` keep the bank as two files in a folder: `bank.npz` (hashes, times, variants, broadcast ids)
and `bank.faiss` (the trained index; rebuilt from the hashes when missing). A bank that does not load names
the file and why.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from livewarden.detectors.frame_hash import HASH_BYTES, MATCH_DISTANCE, VARIANTS
from livewarden.errors import LivewardenError

log = logging.getLogger(__name__)

IVF_FROM = 200_000  # entries: below this an exact search is fast enough (~0.2 ms at 200 k)
NPROBE = 64


class BankError(LivewardenError):
    """A bank folder that cannot be read (names the file)."""


@dataclass(frozen=True)
class BankMatch:
    broadcast: str
    time: float  # seconds into the broadcast
    distance: int
    variant: str  # which of the bank's variants matched


def _build_index(hashes: np.ndarray) -> faiss.IndexBinary:
    d = HASH_BYTES * 8
    if len(hashes) < IVF_FROM:
        index = faiss.IndexBinaryFlat(d)
    else:
        nlist = int(2 ** round(math.log2(4 * math.sqrt(len(hashes)))))
        index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(d), d, nlist)
        rng = np.random.default_rng(0)
        sample = hashes[rng.choice(len(hashes), min(len(hashes), 20 * nlist), replace=False)]  # k-means: the slow part
        index.train(sample)
        index.nprobe = NPROBE
    if len(hashes):
        index.add(hashes)
    return index


class BroadcastBank:
    """Banked frames of registered broadcasts; thread-safe (lookups from every room, adds from live rooms)."""

    def __init__(self) -> None:
        self.broadcasts: list[str] = []  # broadcast ids, by index
        self._bid: dict[str, int] = {}
        self._hashes = np.zeros((0, HASH_BYTES), np.uint8)
        self._owner = np.zeros(0, np.int32)
        self._times = np.zeros(0, np.float32)
        self._variants = np.zeros(0, np.int8)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._index = _build_index(self._hashes)
        self._lock = threading.Lock()
        self._rebuilding: threading.Thread | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._hashes) + sum(len(p[0]) for p in self._pending)

    @property
    def memory_bytes(self) -> int:
        return int(self._hashes.nbytes * 2 + self._times.nbytes + self._owner.nbytes + self._variants.nbytes)

    def add(self, broadcast: str, times, hashes: np.ndarray, variant: str = "whole") -> None:
        """Bank frames of `broadcast` (at `times` seconds into it); searchable at once."""
        hashes = np.ascontiguousarray(hashes, np.uint8).reshape(-1, HASH_BYTES)
        if not len(hashes):
            return
        times = np.asarray(times, np.float32).reshape(-1)
        with self._lock:
            bid = self._bid.get(broadcast)
            if bid is None:
                bid = self._bid[broadcast] = len(self.broadcasts)
                self.broadcasts.append(broadcast)
            owner = np.full(len(hashes), bid, np.int32)
            kind = np.full(len(hashes), VARIANTS.index(variant), np.int8)
            self._index.add(hashes)
            self._hashes = np.concatenate([self._hashes, hashes])
            self._owner = np.concatenate([self._owner, owner])
            self._times = np.concatenate([self._times, times])
            self._variants = np.concatenate([self._variants, kind])
            if self._rebuilding is not None:  # also for the index being trained
                self._pending.append((hashes, owner, times, kind))

    def lookup(self, queries: np.ndarray, k: int = 4, max_distance: int = MATCH_DISTANCE) -> list[list[BankMatch]]:
        """For each query hash, its nearest banked frames (up to k) within `max_distance` bits, nearest first."""
        queries = np.ascontiguousarray(queries, np.uint8).reshape(-1, HASH_BYTES)
        with self._lock:
            index, owner, times, variants = self._index, self._owner, self._times, self._variants
            if index.ntotal == 0 or not len(queries):
                return [[] for _ in range(len(queries))]
            dist, ids = index.search(queries, k)
        out = []
        for row_d, row_i in zip(dist, ids):
            out.append([BankMatch(self.broadcasts[owner[i]], float(times[i]), int(d), VARIANTS[variants[i]])
                        for d, i in zip(row_d, row_i) if i >= 0 and d <= max_distance])
        return out

    # -- rebuild and persistence -------------------------------------------------
    def rebuild(self, wait: bool = False) -> threading.Thread:
        """Train a fresh index from every banked hash in the background and swap it in; lookups go on."""
        with self._lock:
            if self._rebuilding is not None:
                thread = self._rebuilding
            else:
                snapshot = self._hashes
                thread = self._rebuilding = threading.Thread(target=self._rebuild, args=(snapshot,),
                                                             name="bank-rebuild", daemon=True)
                thread.start()
        if wait:
            thread.join()
        return thread

    def _rebuild(self, snapshot: np.ndarray) -> None:
        try:
            index = _build_index(snapshot)
            with self._lock:
                for hashes, *_ in self._pending:  # banked while training
                    index.add(hashes)
                self._index = index
                self._pending = []
        except Exception:
            log.exception("bank rebuild failed; the old index stays")
        finally:
            with self._lock:
                self._rebuilding = None

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            arrays = dict(hashes=self._hashes, owner=self._owner, times=self._times, variants=self._variants,
                          broadcasts=np.array(self.broadcasts, dtype=str))
            index = self._index
            tmp = folder / "bank.tmp.npz"
            np.savez(tmp, **arrays)
            tmp.replace(folder / "bank.npz")
            faiss.write_index_binary(index, str(folder / "bank.tmp.faiss"))
            (folder / "bank.tmp.faiss").replace(folder / "bank.faiss")

    @classmethod
    def load(cls, folder: str | Path) -> "BroadcastBank":
        folder = Path(folder)
        path = folder / "bank.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                hashes, owner = data["hashes"], data["owner"]
                times, variants, names = data["times"], data["variants"], [str(x) for x in data["broadcasts"]]
        except (OSError, ValueError, KeyError) as exc:
            raise BankError(f"{path}: the bank cannot be read ({type(exc).__name__}: {exc})") from None
        if hashes.ndim != 2 or hashes.shape[1] != HASH_BYTES or not (len(hashes) == len(owner) == len(times)):
            raise BankError(f"{path}: the bank's arrays do not fit together (hashes {hashes.shape}, "
                            f"{len(owner)} owners, {len(times)} times)")
        bank = cls()
        bank.broadcasts, bank._bid = names, {n: i for i, n in enumerate(names)}
        bank._hashes, bank._owner, bank._times, bank._variants = hashes, owner, times, variants
        index_path = folder / "bank.faiss"
        index = None
        if index_path.is_file():
            try:
                index = faiss.read_index_binary(str(index_path))
            except RuntimeError as exc:
                log.warning("%s: the index cannot be read (%s); building it again from the hashes", index_path, exc)
        if index is None or index.ntotal != len(hashes):
            index = _build_index(hashes)
        bank._index = index
        return bank
