"""What storage/s3_client.py hooks into botocore, seen from outside: through the fault proxy
(tests/faultproxy.py) between boto3 and the moto server, what reaches the server and what the
user is told."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import random_file
from faultproxy import DROP, HTTP_500, FaultProxy, Rule
from s3_fixtures import S3

from gitdata.errors import StoreError
from gitdata.hashing import hash_file
from gitdata.storage import StoreSpec, open_store
from gitdata.storage import s3 as s3_module
from gitdata.storage.s3 import S3Store


@pytest.fixture
def proxy(s3: S3):
    with FaultProxy(s3.endpoint) as p:
        yield p


def through(proxy: FaultProxy, s3: S3) -> S3Store:
    st = open_store(StoreSpec(url=s3.url("p"), endpoint_url=proxy.endpoint, name="origin"))
    assert isinstance(st, S3Store)
    return st


@pytest.mark.parametrize("abort_fault", [None, HTTP_500, DROP])
def test_an_abort_that_fails_is_reported_and_the_upload_error_kept(
    s3, proxy, tmp_path: Path, monkeypatch, capsys, abort_fault
):
    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 8 << 20)
    monkeypatch.setattr(s3_module, "PART_SIZE", 5 << 20)
    st = through(proxy, s3)
    src = random_file(tmp_path / "big", 12 << 20, seed=1)
    oid, size = hash_file(src)
    proxy.add(Rule(HTTP_500, ops={"CompleteMultipartUpload"}))
    if abort_fault:
        proxy.add(Rule(abort_fault, ops={"AbortMultipartUpload"}))
    with pytest.raises(StoreError) as e:
        st.upload(oid, str(src), size)
    assert "InternalError" in e.value.message and e.value.transient  # the upload's own error
    uploads = s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
    warnings = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("git-data:")
    ]
    if abort_fault is None:
        assert uploads == [] and warnings == []
        return
    assert proxy.injected[(abort_fault, "AbortMultipartUpload")] == 3  # botocore's attempts
    [upload] = uploads
    assert upload["Key"] == st.key(oid)
    parts = s3.client.list_parts(Bucket=s3.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    assert len(parts["Parts"]) == 3
    [line] = warnings
    assert line.startswith("git-data: warning: multipart upload ")
    assert f"s3://{s3.bucket}/{upload['Key']}" in line and upload["UploadId"] in line
    assert "lifecycle rule" in line and '"Safety"' in line
    assert ("InternalError" if abort_fault == HTTP_500 else "ConnectionClosedError") in line


@pytest.mark.parametrize(
    "setup, crc32",
    [
        ("endpoint_url", False),  # an S3-compatible service, checksums "when_required": MD5 only
        ("endpoint_url, AWS_REQUEST_CHECKSUM_CALCULATION=when_supported", True),
        ("endpoint_url, AWS_REQUEST_CHECKSUM_CALCULATION=when_required", True),
        ("AWS_ENDPOINT_URL_S3", True),  # as against AWS: botocore's defaults
    ],
)
def test_delete_objects_carries_content_md5_in_every_configuration(
    s3, proxy, monkeypatch, setup, crc32
):
    if "=" in setup:
        monkeypatch.setenv(*setup.split(", ")[1].split("="))
    if setup == "AWS_ENDPOINT_URL_S3":
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.endpoint)
        st = open_store(StoreSpec(url=s3.url("p"), name="origin"))
    else:
        st = through(proxy, s3)
    oids = [f"{i:032x}" for i in range(5)]
    for oid in oids:
        s3.client.put_object(Bucket=s3.bucket, Key=st.key(oid), Body=b"x")
    assert st.delete_many(oids) == {}
    assert s3.keys() == []
    keys = [f"chunked/v1/manifests/{i:064x}.manifest" for i in range(3)]  # and the chunked store's
    for key in keys:
        s3.client.put_object(Bucket=s3.bucket, Key=f"p/{key}", Body=b"x")
    assert st.delete_keys(keys) == {}
    assert s3.keys() == []
    deletes = [r for r in proxy.received if r[0] == "DeleteObjects"]
    assert len(deletes) == 2
    for _, headers, body_md5 in deletes:
        assert headers["content-md5"] == body_md5  # what the server received, over what it did
        assert ("x-amz-checksum-crc32" in headers) is crc32
