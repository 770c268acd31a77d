"""The BLAKE3 of an object from the subtrees of its parts (what multipart uploads are made of).

BLAKE3 hashes 1 KiB chunks into a binary tree whose left side always holds the largest power of
two of chunks smaller than the whole. So when every part but the last holds the same
power-of-two number of chunks, each part is a complete subtree of the object's tree, and the
object's digest follows from the parts' final nodes (:class:`Subtree` outputs, hashed with the
chunks numbered from the part's place in the object) without the object ever being in one
place. Plain functions; the hashing itself is C (``roar.hashing._b3tree``).
"""

from __future__ import annotations

from collections.abc import Sequence

CHUNK_LEN = 1024


def subtree_sized(size: int) -> bool:
    """True if ``size`` bytes are a power-of-two number of whole chunks (a full part's size)."""
    chunks, rest = divmod(size, CHUNK_LEN)
    return rest == 0 and chunks > 0 and chunks & (chunks - 1) == 0


def chunks_in(size: int) -> int:
    """Chunks a subtree of ``size`` bytes spans (an empty input still has one, empty, chunk)."""
    return max(1, -(-size // CHUNK_LEN))


def combine(outputs: Sequence[bytes], sizes: Sequence[int]) -> str:
    """The object's BLAKE3 (hex) from its parts' subtree outputs, in order.

    ``sizes`` are the parts' byte sizes: all but the last equal and :func:`subtree_sized`, the
    last no larger (the caller checks; a ValueError says which rule broke).
    """
    import roar.hashing._b3tree as _b3tree

    if not outputs or len(outputs) != len(sizes):
        raise ValueError("one output per part, at least one part")
    if len(sizes) > 1:
        full = sizes[0]
        if not subtree_sized(full) or any(s != full for s in sizes[:-1]):
            raise ValueError("every part but the last must be the same power-of-two chunks")
        if not 0 < sizes[-1] <= full:
            raise ValueError("the last part must not be empty or larger than the others")
    chunks = [chunks_in(s) for s in sizes]

    def node(first: int, count: int) -> bytes:
        """The output of the subtree over parts[first : first + count]."""
        if count == 1:
            return outputs[first]
        total = sum(chunks[first : first + count])
        left_chunks = 1 << ((total - 1).bit_length() - 1)  # largest power of two < total
        left_parts = left_chunks // chunks[first]
        left = _b3tree.chaining_value(node(first, left_parts))
        right = _b3tree.chaining_value(node(first + left_parts, count - left_parts))
        return bytes(_b3tree.parent_output(left, right))

    return bytes(_b3tree.root_hash(node(0, len(outputs)))).hex()
