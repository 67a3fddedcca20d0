"""RFC 6962 hashing, proof generation and verification: published vectors and properties."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ProofError
from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_ranges,
    hashes_for,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "rfc6962" / "testdata"
LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


ROOT_OF_FOUR = root_from_leaves([leaf_hash(bytes([i])) for i in range(4)])


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _vector_files(kind: str) -> list[Path]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert len(files) == 98, f"expected the 98 bundled {kind} vectors"
    return files


def _vector_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


class Tree:
    """An in-memory node store built by CompactRange, as the database stores nodes."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.compact = CompactRange()
        self.nodes: dict[tuple[int, int], bytes] = {}
        for leaf in leaves:
            self.nodes.update(self.compact.append(leaf))

    def fetch(self, needed: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        assert needed <= self.nodes.keys()
        return {n: self.nodes[n] for n in needed}

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return hashes_for(inclusion_ranges(index, size), self.fetch)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return hashes_for(consistency_ranges(old, new), self.fetch)

    def root(self, size: int) -> bytes:
        return root_from_leaves(self.nodes[(0, i)] for i in range(size))


class TestHashing:
    def test_published_roots_for_every_size(self) -> None:
        hashes = [leaf_hash(leaf) for leaf in LEAVES]
        for size, expected in enumerate(ROOTS):
            assert root_from_leaves(hashes[:size]).hex() == expected

    def test_hasher_vectors(self) -> None:
        assert leaf_hash(b"L123456").hex() == (
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
        )
        assert node_hash(b"N123", b"N456").hex() == (
            "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
        )
        assert EMPTY_ROOT.hex() == ROOTS[0]

    def test_odd_leaf_is_not_duplicated(self) -> None:
        hashes = [leaf_hash(leaf) for leaf in LEAVES[:3]]
        assert root_from_leaves(hashes) != root_from_leaves([*hashes, hashes[-1]])


class TestCompactRange:
    @given(level=st.integers(0, 5), blocks=st.integers(0, 4), more=st.integers(0, 100))
    def test_extending_by_an_aligned_range_equals_appending_its_leaves(
        self, level: int, blocks: int, more: int
    ) -> None:
        """What the verifier does with a chunk folded apart: ``[0, start)`` and ``[start,
        start + more)`` with ``start`` a multiple of the chunk's own span give the same tree
        as every leaf appended in turn, at every size."""
        start = blocks << max(level, more.bit_length())
        leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(start + more)]
        whole, head, tail = CompactRange(), CompactRange(), CompactRange()
        for leaf in leaves[:start]:
            head.append(leaf)
            whole.append(leaf)
        assert head.root() == root_from_leaves(leaves[:start])
        for leaf in leaves[start:]:
            tail.push(0, leaf)
            whole.append(leaf)
            joined = head.copy()
            joined.extend(tail)
            assert joined == whole  # the same size and subtrees, so the same root
        head.extend(tail)
        assert head.root() == root_from_leaves(leaves)

    def test_a_subtree_must_be_aligned(self) -> None:
        tree = CompactRange()
        for i in range(3):
            tree.push(0, leaf_hash(bytes([i])))
        with pytest.raises(ValueError, match="cannot start at 3"):
            tree.push(1, node_hash(leaf_hash(b"a"), leaf_hash(b"b")))
        tree.push(0, leaf_hash(b"\x03"))
        tree.push(2, ROOT_OF_FOUR)
        assert tree.root() == root_from_leaves(
            [leaf_hash(bytes([i])) for i in range(4)] + [leaf_hash(bytes([i])) for i in range(4)]
        )


class TestPublishedVectors:
    @pytest.mark.parametrize(
        "path", _vector_files("inclusion"), ids=lambda p: str(p.parent.name + "/" + p.stem)
    )
    def test_inclusion(self, path: Path) -> None:
        v = json.loads(path.read_text())
        check = lambda: verify_inclusion(  # noqa: E731
            v["leafIdx"], v["treeSize"], _b64(v["leafHash"]),
            [_b64(p) for p in v["proof"] or []], _b64(v["root"]),
        )  # fmt: skip
        if v["wantErr"]:
            with pytest.raises(ProofError):
                check()
        else:
            check()

    @pytest.mark.parametrize(
        "path", _vector_files("consistency"), ids=lambda p: str(p.parent.name + "/" + p.stem)
    )
    def test_consistency(self, path: Path) -> None:
        v = json.loads(path.read_text())
        check = lambda: verify_consistency(  # noqa: E731
            v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]),
            [_b64(p) for p in v["proof"] or []],
        )  # fmt: skip
        if v["wantErr"]:
            with pytest.raises(ProofError):
                check()
        else:
            check()

    def test_generated_proofs_equal_published_ones(self) -> None:
        tree = Tree([leaf_hash(leaf) for leaf in LEAVES])
        for name, index, size in [("1", 0, 8), ("2", 5, 8), ("3", 2, 3), ("4", 1, 5)]:
            v = json.loads((VECTORS / "inclusion" / name / "happy-path.json").read_text())
            assert (v["leafIdx"], v["treeSize"]) == (index, size)
            assert [base64.b64encode(h).decode() for h in tree.inclusion(index, size)] == v["proof"]
        for name in ["1", "2", "3", "4"]:
            v = json.loads((VECTORS / "consistency" / name / "happy-path.json").read_text())
            proof = tree.consistency(v["size1"], v["size2"])
            assert [base64.b64encode(h).decode() for h in proof] == v["proof"]


class TestProperties:
    @settings(max_examples=60, deadline=None)
    @given(size=st.integers(1, 300), data=st.data())
    def test_every_generated_proof_verifies(self, size: int, data: st.DataObject) -> None:
        tree = Tree([leaf_hash(i.to_bytes(4, "big")) for i in range(size)])
        index = data.draw(st.integers(0, size - 1))
        verify_inclusion(
            index, size, tree.nodes[(0, index)], tree.inclusion(index, size), tree.root(size)
        )
        old = data.draw(st.integers(1, size))
        verify_consistency(old, size, tree.root(old), tree.root(size), tree.consistency(old, size))

    @settings(max_examples=60, deadline=None)
    @given(size=st.integers(2, 200), data=st.data())
    def test_mutated_inclusion_proofs_fail(self, size: int, data: st.DataObject) -> None:
        tree = Tree([leaf_hash(i.to_bytes(4, "big")) for i in range(size)])
        index = data.draw(st.integers(0, size - 1))
        proof = tree.inclusion(index, size)
        root = tree.root(size)
        mutation = data.draw(st.sampled_from(["flip", "drop", "extra", "index", "leaf"]))
        leaf, at = tree.nodes[(0, index)], index
        if mutation == "flip":
            i = data.draw(st.integers(0, len(proof) - 1))
            bit = data.draw(st.integers(0, 255))
            proof[i] = bytes(
                b ^ (1 << (bit % 8)) if n == bit // 8 else b for n, b in enumerate(proof[i])
            )
        elif mutation == "drop":
            proof.pop(data.draw(st.integers(0, len(proof) - 1)))
        elif mutation == "extra":
            proof.append(root)
        elif mutation == "index":
            at = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        else:
            leaf = leaf_hash(b"not this leaf")
        with pytest.raises(ProofError):
            verify_inclusion(at, size, leaf, proof, root)

    @settings(max_examples=60, deadline=None)
    @given(size=st.integers(3, 200), data=st.data())
    def test_mutated_consistency_proofs_fail(self, size: int, data: st.DataObject) -> None:
        tree = Tree([leaf_hash(i.to_bytes(4, "big")) for i in range(size)])
        old = data.draw(st.integers(1, size - 1))
        proof = tree.consistency(old, size)
        i = data.draw(st.integers(0, len(proof) - 1))
        proof[i] = node_hash(proof[i], proof[i])
        with pytest.raises(ProofError):
            verify_consistency(old, size, tree.root(old), tree.root(size), proof)

    @settings(max_examples=40, deadline=None)
    @given(size=st.integers(1, 1000))
    def test_proofs_read_logarithmically_many_nodes(self, size: int) -> None:
        from ledger.merkle import nodes_for

        bound = 2 * max(1, size.bit_length()) + 2
        for index in {0, size // 2, size - 1}:
            assert len(nodes_for(inclusion_ranges(index, size))) <= bound
        assert len(nodes_for(consistency_ranges(max(1, size // 3), size))) <= bound
