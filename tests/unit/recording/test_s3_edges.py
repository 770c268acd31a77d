from __future__ import annotations

from roar.proxy._event import S3Event
from roar.recording.s3 import s3_edges


def ev(op: str, key: str, direction: str, **kw: object) -> S3Event:
    return S3Event(
        op=op, bucket="b", key=key, url=f"s3://b/{key}", direction=direction,  # type: ignore[arg-type]
        status=int(kw.pop("status", 200)), timestamp=1.0, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_events_become_one_edge_per_object() -> None:
    inputs, outputs, deleted = s3_edges(
        [
            ev("HeadObject", "in.bin", "input", size=100, etag="e1"),
            ev("GetObject", "in.bin", "input", size=100, etag="e1", blake3="a" * 64,
               transferred=100),
            ev("GetObject", "part.bin", "input", size=1000, etag="e2", byte_ranges=((0, 9),)),
            ev("GetObject", "part.bin", "input", size=1000, etag="e2", byte_ranges=((500, 509),)),
            ev("PutObject", "out.bin", "output", size=5, etag="e3", blake3="c" * 64),
            ev("CompleteMultipartUpload", "big.bin", "output", size=40, etag="e4-3"),
            ev("GetObject", "missing.bin", "input", status=404),
            ev("HeadObject", "only-head.bin", "input", size=1, etag="e5"),
            ev("DeleteObject", "old.bin", "delete"),
        ]
    )  # fmt: skip
    assert [(f.path, f.hash, f.size, f.byte_ranges) for f in inputs] == [
        ("s3://b/in.bin", "a" * 64, 100, ()),
        ("s3://b/part.bin", "etag:e2", 1000, ((0, 9), (500, 509))),
    ]
    assert inputs[0].hashes == {"blake3": "a" * 64, "etag": "e1"}
    assert [(f.path, f.hash) for f in outputs] == [
        ("s3://b/out.bin", "c" * 64), ("s3://b/big.bin", "etag:e4-3"),
    ]  # fmt: skip
    assert deleted == ["s3://b/old.bin"]


def test_a_multipart_object_without_its_blake3_is_known_by_its_parts_digest() -> None:
    from roar.proxy._event import S3Event

    event = S3Event(
        op="CompleteMultipartUpload",
        bucket="b",
        key="k",
        url="s3://b/k",
        direction="output",
        status=200,
        timestamp=1.0,
        size=10,
        etag="abc-2",
        blake3_of_parts="f" * 64,
        digest_note="parts hashed on their own",
    )
    _, (output,), _ = s3_edges([event])
    assert output.hash == "etag:abc-2"
    assert output.hashes == {"blake3-of-parts": "f" * 64, "etag": "abc-2"}
