"""RFC 6962 / RFC 9162 Merkle trees: hashing, proofs over stored subtrees, proof verification.

Storage keeps only *perfect* subtrees: node ``(level, index)`` is the hash of leaves
``[index * 2**level, (index + 1) * 2**level)``. Every hash a root or proof needs is either such a
node or a right-edge ("ragged") range, which is folded from the perfect subtrees that cover it, so
a root or a proof reads O(log n) stored nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import ProofError

EMPTY_ROOT = hashlib.sha256(b"").digest()
NodeId = tuple[int, int]
Range = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """Largest power of two strictly below ``size`` (``size`` >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_cover(start: int, end: int) -> list[NodeId]:
    """The perfect subtrees, left to right, whose leaves are exactly ``[start, end)``.

    ``start`` must be aligned as RFC 6962 subtrees are: a multiple of the largest power of two
    not above ``end - start``.
    """
    nodes: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def range_hash(start: int, end: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """MTH of leaves ``[start, end)`` from the stored perfect subtrees that cover it."""
    cover = perfect_cover(start, end)
    result = nodes[cover[-1]]
    for node in reversed(cover[:-1]):
        result = node_hash(nodes[node], result)
    return result


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Leaf ranges whose hashes form PATH(index, D[size]), leaf sibling first (RFC 6962 2.1.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """Leaf ranges whose hashes form PROOF(old, D[new]) (RFC 6962 2.1.2)."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    ranges: list[Range] = []
    start, end, complete = 0, new_size, True
    while old_size - start != end - start:
        k = _split(end - start)
        if old_size - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            complete = False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def nodes_for(ranges: Iterable[Range]) -> set[NodeId]:
    needed: set[NodeId] = set()
    for start, end in ranges:
        needed.update(perfect_cover(start, end))
    return needed


def hashes_for(
    ranges: Sequence[Range], fetch: Callable[[set[NodeId]], Mapping[NodeId, bytes]]
) -> list[bytes]:
    nodes = fetch(nodes_for(ranges))
    return [range_hash(start, end, nodes) for start, end in ranges]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 2.1.3.2: raise :class:`ProofError` unless ``leaf`` is at ``index`` of ``root``."""
    if index < 0 or index >= size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    if len(leaf) != 32:
        raise ProofError("leaf hash must be 32 bytes")
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    if len(proof) != inner + border:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {inner + border}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2. Raises :class:`ProofError` unless the old tree is a prefix of the new."""
    if old_size < 1:
        raise ProofError("a consistency proof from an empty tree is meaningless")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal sizes with different roots")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofError("consistency proof does not link the two roots")


@dataclass
class CompactRange:
    """The perfect subtrees covering leaves ``[0, size)``: O(log n) memory, streaming appends."""

    size: int = 0
    peaks: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        """Add a leaf hash; return the perfect nodes this completes, the leaf's own first."""
        made: list[tuple[NodeId, bytes]] = [((0, self.size), leaf)]
        level, index, current = 0, self.size, leaf
        while index & 1:
            current = node_hash(self.peaks.pop(), current)
            level, index = level + 1, index >> 1
            made.append(((level, index), current))
        self.peaks.append(current)
        self.size += 1
        return made

    def push(self, level: int, subtree: bytes) -> None:
        """Add the hash of a perfect subtree of ``2**level`` leaves (a leaf hash at level 0);
        the size must be a multiple of ``2**level``, as RFC 6962 aligns its subtrees."""
        if self.size & ((1 << level) - 1):
            raise ValueError(f"a subtree of 2**{level} leaves cannot start at {self.size}")
        index, current = self.size >> level, subtree
        while index & 1:
            current = node_hash(self.peaks.pop(), current)
            index >>= 1
        self.peaks.append(current)
        self.size += 1 << level

    def extend(self, following: CompactRange) -> None:
        """Add the leaves of ``following``, a compact range over the leaves that come next
        (counted from its own leaf 0); its subtrees must be aligned here too (see :meth:`push`)."""
        for (level, _), subtree in zip(
            perfect_cover(0, following.size), following.peaks, strict=True
        ):
            self.push(level, subtree)

    def copy(self) -> CompactRange:
        return CompactRange(self.size, list(self.peaks))

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        result = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            result = node_hash(peak, result)
        return result

    @classmethod
    def from_nodes(cls, size: int, nodes: Mapping[NodeId, bytes]) -> CompactRange:
        return cls(size=size, peaks=[nodes[n] for n in perfect_cover(0, size)])


def root_from_leaves(leaves: Iterable[bytes]) -> bytes:
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    return compact.root()
