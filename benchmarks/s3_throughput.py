"""Upload and download 1 GiB in 64 files to a local S3-API server (moto, in its own process):
gitdata's S3Store driven by gitdata.transfer, against a plain boto3 upload_file/download_file
loop with the same number of threads, in the same run. Prints a Markdown table.

    .venv/bin/python benchmarks/s3_throughput.py            # after ./install.sh --test
    .venv/bin/python benchmarks/s3_throughput.py --files 16 --size-mib 16 --rounds 1   # quick

Fairness: all sides read the same files from the same page cache, use the same client
connection pool size (64) and the same number of worker threads (gitdata's default
data.transfers, 8). The plain loop runs twice: with a default boto3 client and TransferConfig
(what a script would use), and with S3Store's own client (botocore Config) and TransferConfig
(32 MiB multipart threshold, 16 MiB parts), so that what is left between the last two columns
is gitdata's own work: the gitdata download re-hashes every object and renames it into the
cache, which the loop does not. Each round runs the three in another
order; the median and the best of each are reported.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from boto3.s3 import inject
from botocore.config import Config

from gitdata.cache import Cache
from gitdata.config import DEFAULT_TRANSFERS
from gitdata.storage import StoreSpec, open_store
from gitdata.transfer import download, upload

BUCKET = "bench"
MIB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
            return proc, endpoint
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("the moto server did not start") from None
            time.sleep(0.1)


def make_files(cache: Cache, n: int, size: int) -> dict[str, int]:
    """n incompressible files of `size` bytes, stored in the cache (as `git add` would)."""
    sizes = {}
    for i in range(n):
        with tempfile.TemporaryFile() as f:
            left = size
            while left:
                f.write(os.urandom(min(left, MIB)))
                left -= min(left, MIB)
            f.seek(0)
            oid, got = cache.store_stream(f)
        sizes[oid] = got
        print(f"\rmaking files: {i + 1}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return sizes


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def plain_upload(
    client, cache: Cache, sizes: dict[str, int], prefix: str, threads: int, tc
) -> None:
    def one(oid: str) -> None:  # boto3's upload_file, also on gitdata's (botocore) client
        inject.upload_file(client, cache.path(oid), BUCKET, f"{prefix}/{oid}", Config=tc)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, sizes))


def plain_download(client, out: Path, sizes: dict[str, int], prefix: str, threads: int, tc) -> None:
    def one(oid: str) -> None:
        inject.download_file(client, BUCKET, f"{prefix}/{oid}", str(out / oid), Config=tc)

    out.mkdir()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, sizes))


def gitdata_upload(store, cache: Cache, sizes: dict[str, int], threads: int) -> None:
    result = upload(store, cache, sizes, threads)
    assert result.ok, result.failed


def gitdata_download(store, cache: Cache, sizes: dict[str, int], threads: int) -> None:
    result = download(store, cache, sizes, threads)
    assert result.ok, result.failed
    assert sorted(cache.iter_oids()) == sorted(sizes)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=64)
    ap.add_argument("--size-mib", type=int, default=16, help="size of each file")
    ap.add_argument("--threads", type=int, default=DEFAULT_TRANSFERS)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    work = Path(tempfile.mkdtemp(prefix="gitdata-bench-"))
    server, endpoint = start_moto()
    try:
        cache = Cache(str(work / "cache"))
        sizes = make_files(cache, args.files, args.size_mib * MIB)
        total = sum(sizes.values())
        client = boto3.client("s3", endpoint_url=endpoint, config=Config(max_pool_connections=64))
        client.create_bucket(Bucket=BUCKET)
        # the plain loop twice: a default boto3 client and TransferConfig (what a script would
        # use), and gitdata's own client and TransferConfig (what is left is gitdata's work)
        results: dict[str, list[float]] = {}
        names = ["plain", "same", "gd"]
        t = args.threads

        for rnd in range(args.rounds):
            store = open_store(StoreSpec(url=f"s3://{BUCKET}/gd{rnd}", endpoint_url=endpoint))
            loops = {
                "plain": (client, None),
                "same": (store.client, store.transfer_config.config()),  # type: ignore[attr-defined]
            }
            # a different order each round: moto slows down as it fills up
            order = names[rnd % 3 :] + names[: rnd % 3]
            for name in order:
                if name == "gd":
                    elapsed = timed(gitdata_upload, store, cache, sizes, t)
                else:
                    cl, tc = loops[name]
                    elapsed = timed(plain_upload, cl, cache, sizes, f"{name}{rnd}", t, tc)
                results.setdefault(f"up-{name}", []).append(elapsed)
            for name in order:
                out = work / f"{name}-out{rnd}"
                if name == "gd":
                    elapsed = timed(gitdata_download, store, Cache(str(out)), sizes, t)
                else:
                    cl, tc = loops[name]
                    elapsed = timed(plain_download, cl, out, sizes, f"{name}{rnd}", t, tc)
                results.setdefault(f"dn-{name}", []).append(elapsed)
                shutil.rmtree(out)
            urllib.request.urlopen(
                urllib.request.Request(
                    endpoint + "/moto-api/reset", b"", {"Content-Type": "text/plain"}
                )
            ).close()
            client.create_bucket(Bucket=BUCKET)
            print(
                f"round {rnd + 1}/{args.rounds}: "
                + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in results.items()),
                file=sys.stderr,
            )
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)

    def rate(key: str, pick=statistics.median) -> float:
        return total / MIB / pick(results[key])

    import botocore
    import moto

    label = f"{total / MIB / 1024:.2f} GiB in {args.files} files"
    print(
        f"\nS3 throughput, {label}, {args.threads} threads, {args.rounds} rounds; "
        f"moto {moto.__version__} on 127.0.0.1, boto3 {boto3.__version__} / botocore "
        f"{botocore.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs\n"
    )
    print(
        "| operation | plain boto3 loop | plain loop, gitdata's boto3 config "
        "| gitdata S3Store + transfer | gitdata / plain | gitdata / same config |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for op, key in (("upload", "up"), ("download", "dn")):
        cells = []
        for name in ("plain", "same", "gd"):
            cells.append(f"{rate(f'{key}-{name}'):.0f} ({rate(f'{key}-{name}', min):.0f}) MiB/s")
        for base in ("plain", "same"):
            median = rate(f"{key}-gd") / rate(f"{key}-{base}")
            best = rate(f"{key}-gd", min) / rate(f"{key}-{base}", min)
            cells.append(f"{median:.2f}x ({best:.2f}x)")
        print(f"| {op} {label} | " + " | ".join(cells) + " |")
    print("\nmedian (best) of the rounds; on a shared machine the best is the least disturbed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
