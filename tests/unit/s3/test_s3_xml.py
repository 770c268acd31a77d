"""The S3 documents `roar get`/`roar put` read and write (roar/s3/xml.py)."""

from __future__ import annotations

from roar.s3.xml import (
    complete_request,
    error_body,
    read_complete_parts,
    read_error,
    read_list_page,
    read_upload_id,
)

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def test_a_listing_page_and_its_continuation() -> None:
    page = read_list_page(
        f"<ListBucketResult {NS}><IsTruncated>true</IsTruncated>"
        "<Contents><Key>d/a.csv</Key><Size>12</Size><ETag>&quot;e1&quot;</ETag></Contents>"
        "<Contents><Key>d/b.csv</Key><Size>0</Size></Contents>"
        "<NextContinuationToken>tok</NextContinuationToken></ListBucketResult>".encode()
    )
    assert page is not None
    assert page.objects == [("d/a.csv", 12, "e1"), ("d/b.csv", 0, None)]
    assert page.next_token == "tok"
    last = read_list_page(
        b"<ListBucketResult><IsTruncated>false</IsTruncated>"
        b"<NextContinuationToken>ignored</NextContinuationToken></ListBucketResult>"
    )
    assert last is not None and last.objects == [] and last.next_token is None
    assert read_list_page(b"<Error><Code>NoSuchBucket</Code></Error>") is None
    assert read_list_page(b"<ListBucketResult><Contents><Size>x</Size></Contents>") is None


def test_errors_upload_ids_and_the_complete_request() -> None:
    assert read_error(error_body("AccessDenied", "Access Denied")) == (
        "AccessDenied",
        "Access Denied",
    )
    assert read_error(b"not xml") == ("", "")
    assert read_upload_id(b"<InitiateMultipartUploadResult><UploadId>u-1</UploadId>"
                          b"</InitiateMultipartUploadResult>") == "u-1"  # fmt: skip
    assert read_upload_id(b"<InitiateMultipartUploadResult/>") is None
    # What roar sends is what the proxy (and S3) read back: parts in order, ETags quoted.
    assert read_complete_parts(complete_request({2: "b<", 1: "a"})) == [(1, "a"), (2, "b<")]
