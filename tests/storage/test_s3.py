"""S3Store on its own, against a real S3-API server (moto) over HTTP: layout, batched existence
checks, multipart safety, and what each failure tells the user."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore import exceptions as bx
from conftest import random_file, same_file
from faultproxy import FaultProxy
from s3_fixtures import S3

from gitdata import transfer
from gitdata.cache import Cache
from gitdata.errors import ConfigError, ObjectMissing, StoreError
from gitdata.hashing import hash_bytes, hash_file
from gitdata.storage import StoreSpec, key_for, open_store, parse_s3_url
from gitdata.storage import s3 as s3_module
from gitdata.storage.s3 import MULTIPART_THRESHOLD, S3Store
from gitdata.storage.s3_errors import StoreWide, Where, translate


def store(s3: S3, prefix: str = "pre", **kw) -> S3Store:
    st = open_store(StoreSpec(url=s3.url(prefix), endpoint_url=s3.endpoint, name="origin", **kw))
    assert isinstance(st, S3Store)
    return st


def put(s3: S3, st: S3Store, n: int) -> list[str]:
    oids = [os.urandom(16).hex() for _ in range(n)]
    for oid in oids:
        s3.client.put_object(Bucket=s3.bucket, Key=st.key(oid), Body=b"x")
    return oids


@pytest.mark.parametrize(
    "url, parsed",
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://my.bucket-1/a/b/", ("my.bucket-1", "a/b")),
        ("s3://Legacy_Bucket/x", ("Legacy_Bucket", "x")),
    ],
)
def test_parse_s3_url(url, parsed):
    assert parse_s3_url(url) == parsed


@pytest.mark.parametrize(
    "url",
    ["s3://", "s3:///x", "s3://a b/x", "s3://b/x//y", "s3://b/../x", "s3://b/x?v=1", "gs://b"],
)
def test_parse_s3_url_refuses(url):
    with pytest.raises(ValueError):
        parse_s3_url(url)


def test_invalid_urls_are_config_errors_not_crashes():
    with pytest.raises(ConfigError, match="not valid"):
        open_store(StoreSpec(url="s3://a b/x"))
    with pytest.raises(ConfigError, match="endpoint_url"):
        open_store(StoreSpec(url="s3://b/x", endpoint_url="127.0.0.1:9000"))


def test_round_trip_layout_listing_and_delete(s3, tmp_path: Path):
    st = store(s3)
    src = random_file(tmp_path / "src", 100_000)
    oid, size = hash_file(src)
    assert st.exists_many([oid]) == set()
    st.upload(oid, str(src), size)
    assert s3.keys() == [f"pre/{key_for(oid)}"]
    assert st.exists_many([oid, "0" * 32]) == {oid}
    st.download(oid, str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == src.read_bytes()
    # stray keys (temporaries of other tools, wrong shard) are not objects
    s3.client.put_object(Bucket=s3.bucket, Key="pre/aa/bb/not-an-oid", Body=b"")
    s3.client.put_object(Bucket=s3.bucket, Key=f"pre/00/00/{oid}", Body=b"")
    s3.client.put_object(Bucket=s3.bucket, Key=f"elsewhere/{key_for(oid)}", Body=b"")
    objects = list(st.iter_objects())
    assert [(o.oid, o.size) for o in objects] == [(oid, size)] and objects[0].mtime > 0
    assert st.delete_many([oid, "1" * 32]) == {}
    assert st.exists_many([oid]) == set() and list(st.iter_objects()) == []


def test_a_small_object_goes_up_in_one_put_from_the_calling_thread(s3, tmp_path: Path):
    src = random_file(tmp_path / "src", 70_000, seed=3)
    oid, size = hash_file(src)
    threads, sent = set(), []

    def progress(n: int) -> None:
        threads.add(threading.current_thread())
        sent.append(n)

    with FaultProxy(s3.endpoint) as proxy:  # no faults: it shows the request's headers
        st = open_store(StoreSpec(url=s3.url("pre"), endpoint_url=proxy.endpoint))
        st.exists_many(["0" * 32])  # the client is made
        s3.clear_requests()
        proxy.received.clear()
        st.upload(oid, str(src), size, progress)
    # one request, with its length, sent from this thread: no transfer manager per object
    assert [(m, p) for m, p, _ in s3.requests] == [("PUT", f"/{s3.bucket}/pre/{key_for(oid)}")]
    [(_, headers, _)] = proxy.received
    assert headers["content-length"] == str(size) and "transfer-encoding" not in headers
    assert threads == {threading.current_thread()}
    assert sum(sent) == size and all(n > 0 for n in sent)
    body = s3.client.get_object(Bucket=s3.bucket, Key=st.key(oid))["Body"].read()
    assert body == src.read_bytes()


def test_multipart_starts_at_the_threshold_and_the_file_decides_the_length(
    s3, tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 8 << 20)
    monkeypatch.setattr(s3_module, "PART_SIZE", 5 << 20)
    st = store(s3)
    below = random_file(tmp_path / "below", (8 << 20) - 1, seed=1)
    at = random_file(tmp_path / "at", 8 << 20, seed=2)
    for src, methods in [(below, ["PUT"]), (at, ["POST", "PUT", "PUT", "POST"])]:
        oid, size = hash_file(src)
        s3.clear_requests()
        st.upload(oid, str(src), 10)  # a wrong size neither cuts the object short nor decides
        assert [m for m, _, _ in s3.requests] == methods
        body = s3.client.get_object(Bucket=s3.bucket, Key=st.key(oid))["Body"].read()
        assert hash_bytes(body) == oid and len(body) == size


def test_a_big_download_of_known_size_sends_only_its_ranged_gets(s3, tmp_path, monkeypatch):
    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 8 << 20)
    monkeypatch.setattr(s3_module, "PART_SIZE", 5 << 20)
    st = store(s3)
    src = random_file(tmp_path / "big", 12 << 20, seed=4)
    oid, size = hash_file(src)
    st.upload(oid, str(src), size)
    sent: list[int] = []
    for known, statuses in [(size, [206] * 3), (None, [200] + [206] * 3)]:
        out = tmp_path / f"out-{known}"
        s3.clear_requests()
        st.download(oid, str(out), sent.append, size=known)
        # unknown size: one GET learns it and is dropped unread, as before
        assert [(m, status) for m, _, status in s3.requests] == [("GET", s) for s in statuses]
        assert same_file(src, out)
    assert sum(sent) == 2 * size


def test_a_wrong_size_in_a_pointer_gets_nothing_into_the_cache(s3, tmp_path, monkeypatch):
    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 8 << 20)
    monkeypatch.setattr(s3_module, "PART_SIZE", 5 << 20)
    st = store(s3)
    src = random_file(tmp_path / "big", 9 << 20, seed=5)
    oid, size = hash_file(src)
    st.upload(oid, str(src), size)
    for claim in (size - 1, size + 1, 1 << 40):
        cache = Cache(str(tmp_path / f"cache-{claim}"))
        result = transfer.download(st, cache, {oid: claim}, workers=2)
        assert list(result.failed) == [oid] and not result.done
        assert not cache.has(oid)


def test_bucket_root_store(s3, tmp_path: Path):
    st = store(s3, prefix="")
    src = random_file(tmp_path / "src", 10)
    oid, size = hash_file(src)
    st.upload(oid, str(src), size)
    assert s3.keys() == [key_for(oid)]
    assert [o.oid for o in st.iter_objects()] == [oid]


def test_exists_heads_a_few_and_lists_shards_for_many(s3, monkeypatch):
    st = store(s3)
    present = put(s3, st, 300)
    absent = [os.urandom(16).hex() for _ in range(1500)]

    s3.clear_requests()
    assert st.exists_many(present[:5] + absent[:5]) == set(present[:5])
    assert [m for m, _, _ in s3.requests] == ["HEAD"] * 10

    # a probe of 100 keys cannot see all 300 objects: then one page per `pre/ab/` shard
    monkeypatch.setattr(s3_module, "PROBE_KEYS", 100)
    s3.clear_requests()
    assert st.exists_many(present + absent) == set(present)
    methods = [m for m, _, _ in s3.requests]
    assert set(methods) == {"GET"} and len(methods) <= 1 + 256
    assert is_probe(s3.requests[0][1], max_keys=100)
    shards = [parse_qs(urlsplit(p).query)["prefix"][0] for _, p, _ in s3.requests[1:]]
    assert all(re.fullmatch(r"pre/[0-9a-f]{2}/", shard) for shard in shards), shards


def is_probe(path: str, max_keys: int | None = None) -> bool:
    """A ListObjectsV2 of the whole prefix `pre/` (the probe exists_many sends first)."""
    query = parse_qs(urlsplit(path).query)
    return (
        query.get("list-type") == ["2"]
        and query.get("prefix") == ["pre/"]
        and (max_keys is None or query.get("max-keys") == [str(max_keys)])
    )


def test_one_probe_answers_for_an_empty_or_nearly_empty_prefix(s3):
    st = store(s3)
    many = [os.urandom(16).hex() for _ in range(2000)]

    # a new prefix: one request, whether 2000 oids (256 shard listings) or 50 (50 HEADs) are asked
    s3.client.put_object(Bucket=s3.bucket, Key="other/x", Body=b"")  # not under the prefix
    for n in (2000, 50):
        s3.clear_requests()
        assert st.exists_many(many[:n]) == set()
        assert len(s3.requests) == 1 and is_probe(s3.requests[0][1], max_keys=min(n, 1000))

    # a prefix holding fewer objects than are asked about: one request answers them all
    present = put(s3, st, 30)
    s3.clear_requests()
    assert st.exists_many(present[:20] + many[:30]) == set(present[:20])
    assert len(s3.requests) == 1 and is_probe(s3.requests[0][1], max_keys=50)

    # more objects than that: the probe cannot tell, the HEADs do
    s3.clear_requests()
    assert st.exists_many(present[:10] + many[:10]) == set(present[:10])
    assert [m for m, _, _ in s3.requests] == ["GET"] + ["HEAD"] * 20
    assert is_probe(s3.requests[0][1], max_keys=20)

    # a few oids: a round of HEADs, no probe
    s3.clear_requests()
    assert st.exists_many(many[:16]) == set()
    assert [m for m, _, _ in s3.requests] == ["HEAD"] * 16


def test_a_probe_the_credentials_may_not_send_leaves_the_heads_to_answer(s3, monkeypatch):
    """Without s3:ListBucket a HEAD of a missing object is refused too, but a push of objects
    that are all there works without it, as it did before the probe."""
    import boto3

    st = store(s3)
    present = put(s3, st, 20)
    iam = boto3.client("iam", endpoint_url=s3.endpoint, region_name="us-east-1")
    iam.create_user(UserName="no-list")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}
        ],
    }
    iam.put_user_policy(UserName="no-list", PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="no-list")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    s3.require_auth()
    st = store(s3)
    s3.clear_requests()
    assert st.exists_many(present) == set(present)
    assert [(m, status) for m, _, status in s3.requests] == [("GET", 403)] + [("HEAD", 200)] * 20


def test_failed_multipart_upload_is_aborted_and_nothing_is_visible(s3, tmp_path: Path):
    st = store(s3)
    src = random_file(tmp_path / "big", MULTIPART_THRESHOLD + (8 << 20), seed=5)
    oid, size = hash_file(src)
    sent = 0

    def progress(n: int) -> None:  # fails the transfer once a part is on its way
        nonlocal sent
        sent += n
        if sent > 4 << 20:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        st.upload(oid, str(src), size, progress)
    assert any("?uploads" in path for m, path, _ in s3.requests if m == "POST")
    assert any("uploadId=" in path for m, path, _ in s3.requests if m == "DELETE")
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert s3.keys() == []
    st.upload(oid, str(src), size)  # and the next attempt works
    assert st.exists_many([oid]) == {oid}


def test_missing_object_and_missing_bucket(s3, tmp_path: Path):
    with pytest.raises(ObjectMissing, match="does not have xxh128:" + "0" * 32):
        store(s3).download("0" * 32, str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()

    st = open_store(StoreSpec(url="s3://no-such-bucket/p", endpoint_url=s3.endpoint))
    with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist"):
        st.download("0" * 32, str(tmp_path / "x"))
    # store-wide: the next call fails at once, without asking the server again
    s3.clear_requests()
    with pytest.raises(StoreError, match="does not exist"):
        st.exists_many(["1" * 32])
    assert s3.requests == []


def test_profile_from_git_config_must_exist(s3):
    st = store(s3, profile="nonexistent")
    with pytest.raises(StoreError, match="profile 'nonexistent' is not defined") as e:
        st.exists_many(["0" * 32])
    assert "data.remote.origin.profile" in e.value.hint


def test_describe_never_shows_endpoint_credentials():
    st = open_store(
        StoreSpec(url="s3://b/p", endpoint_url="https://user:hunter2@minio.example:9000/")
    )
    assert st.describe() == "s3://b/p at https://minio.example:9000/"
    assert "hunter2" not in repr(st.where)


WHERE = Where("s3://b/p", "b", "origin", None, None)


def client_error(code: str, status: int) -> bx.ClientError:
    return bx.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


@pytest.mark.parametrize(
    "exc, kind, transient, words",
    [
        (client_error("SlowDown", 503), StoreError, True, "SlowDown"),
        (client_error("InternalError", 500), StoreError, True, "InternalError"),
        (client_error("Weird", 502), StoreError, True, "Weird"),
        (client_error("AccessDenied", 403), StoreWide, False, "access denied"),
        (client_error("InvalidAccessKeyId", 403), StoreWide, False, "access key id is unknown"),
        (client_error("SignatureDoesNotMatch", 403), StoreWide, False, "secret access key does"),
        (client_error("ExpiredToken", 400), StoreWide, False, "rejected"),
        (client_error("PermanentRedirect", 301), StoreWide, False, "another region"),
        (client_error("NoSuchBucket", 404), StoreWide, False, "does not exist"),
        (client_error("NoSuchKey", 404), ObjectMissing, False, "does not have"),
        (bx.NoCredentialsError(), StoreWide, False, "no AWS credentials"),
        (bx.EndpointConnectionError(endpoint_url="http://x"), StoreWide, False, "cannot connect"),
        (bx.ConnectTimeoutError(endpoint_url="http://x"), StoreWide, False, "cannot connect"),
        (bx.ReadTimeoutError(endpoint_url="http://x"), StoreError, True, "connection failed"),
        (bx.ConnectionClosedError(endpoint_url="http://x"), StoreError, True, "failed"),
    ],
)
def test_translate(exc, kind, transient, words):
    err = translate(exc, WHERE, "0" * 32)
    assert type(err) is kind
    assert err.transient is transient
    assert words in err.message and (err.hint or kind is ObjectMissing)
    assert err.message.startswith("store s3://b/p")


def test_rejected_credentials_say_which_part_is_wrong(s3, monkeypatch):
    """Against the server checking signatures: an unknown access key id and a wrong secret,
    whether the store first asks with HEADs (whose 403 has no body to say why) or a listing;
    and translate() on the server's own answers. The secret is never shown."""
    import boto3

    iam = boto3.client("iam", endpoint_url=s3.endpoint, region_name="us-east-1")
    iam.create_user(UserName="someone")
    key_id = iam.create_access_key(UserName="someone")["AccessKey"]["AccessKeyId"]
    wrong_secret = "wrong-secret-NEVER-PRINTED-0123456789abcd"
    s3.require_auth()
    cases = [
        ("AKIAUNKNOWNKEY000000", s3.secret_key, "InvalidAccessKeyId", "access key id is unknown", "AWS_ACCESS_KEY_ID"),  # noqa: E501
        (key_id, wrong_secret, "SignatureDoesNotMatch", "secret access key does not match", "AWS_SECRET_ACCESS_KEY"),  # noqa: E501
    ]  # fmt: skip
    for access_key, secret, code, words, variable in cases:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        client = boto3.session.Session().client(  # not boto3.client: its session keeps keys
            "s3", endpoint_url=s3.endpoint, region_name="us-east-1"
        )
        with pytest.raises(bx.ClientError) as real:
            client.list_objects_v2(Bucket=s3.bucket)
        assert real.value.response["Error"]["Code"] == code
        errors = [translate(real.value, WHERE)]
        for n in (1, 40):  # HEADs, or the probe (a listing)
            with pytest.raises(StoreWide) as e:
                store(s3).exists_many(os.urandom(16).hex() for _ in range(n))
            errors.append(e.value)
        for err in errors:
            assert isinstance(err, StoreWide), err
            assert words in err.message and code in err.message, err.message
            assert variable in err.hint and "git data env" in err.hint
            assert secret not in err.message + err.hint


def test_a_rejected_key_from_a_configured_profile_points_at_the_profile():
    where = Where("s3://b/p", "b", "origin", "work", "https://s3.example")
    unknown = translate(client_error("InvalidAccessKeyId", 403), where)
    wrong = translate(client_error("SignatureDoesNotMatch", 403), where)
    assert unknown is not None and wrong is not None
    assert "unknown to the service" in unknown.message
    assert "aws_access_key_id of AWS profile 'work'" in unknown.hint
    assert "aws_secret_access_key of AWS profile 'work'" in wrong.hint
    assert "data.remote.origin.profile" in unknown.hint + wrong.hint


def test_translate_leaves_bugs_alone():
    assert translate(KeyError("x"), WHERE) is None


def test_boto3_is_not_imported_until_an_s3_store_is_opened():
    """Nor boto3's own layer, only botocore's, until an object travels in parts: a clone's
    ranged GETs never need it (50 ms per process)."""
    code = (
        "import sys\n"
        "import gitdata.cli, gitdata.sync, gitdata.filters, gitdata.transfer, gitdata.config\n"
        "import gitdata.commands.env, gitdata.commands.remote, gitdata.commands.filter_process\n"
        "from gitdata.storage import StoreSpec, open_store\n"
        "open_store(StoreSpec(url='/tmp/x'))\n"
        "assert not {'boto3', 'botocore', 's3transfer'} & set(sys.modules), 'too early'\n"
        "st = open_store(StoreSpec(url='s3://b/p', endpoint_url='http://127.0.0.1:9'))\n"
        "st.client\n"
        "assert 'botocore' in sys.modules and 'boto3' not in sys.modules, 'boto3 too'\n"
        "assert 's3transfer' not in sys.modules, 's3transfer before an upload'\n"
        "st.transfer_config.config()\n"
        "assert 'boto3' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_read_timeout_comes_from_the_environment(s3, monkeypatch):
    from gitdata.storage.s3 import READ_TIMEOUT, READ_TIMEOUT_ENV

    assert store(s3).client.meta.config.read_timeout == READ_TIMEOUT
    monkeypatch.setenv(READ_TIMEOUT_ENV, "2.5")
    assert store(s3).client.meta.config.read_timeout == 2.5
    for bad in ("soon", "0", "-1", "nan", "inf"):
        monkeypatch.setenv(READ_TIMEOUT_ENV, bad)
        with pytest.raises(ConfigError, match=f"{READ_TIMEOUT_ENV}='{bad}' is not a number"):
            store(s3).exists_many(["0" * 32])
