from __future__ import annotations

import json

from .. import __version__, resolve
from ..config import redact_url
from ..context import Context
from ..errors import GitDataError
from ..git import config as git_config


def env(as_json: bool = False) -> int:
    """The resolved configuration: cache, data remotes, and the store each Git remote uses."""
    ctx = Context()
    s = ctx.settings
    stores = {}
    for name in sorted(s.git_remotes):
        try:
            res = resolve.for_git_remote(ctx, name)
            stores[name] = {"store": redact_url(res.spec.url), "how": res.how}
            value, why = s.chunked_for(res.spec.name)
            stores[name]["chunked"] = f"{value} ({why})"
            if res.spec.url.startswith("s3://"):
                from ..storage.s3_credentials import credential_source

                stores[name]["credentials"] = credential_source(res.spec.profile, res.spec.name)
        except GitDataError as e:
            stores[name] = {"error": e.message}
    doc = {
        "version": __version__,
        "cache": ctx.cache.root,
        "config_file": s.config_file if ctx.config_doc is not None else None,
        "default": s.default_remote,
        "download_remote": resolve.download_remote(ctx),
        "remotes": {
            n: {
                "url": redact_url(r.url),
                "endpoint_url": r.endpoint_url and redact_url(r.endpoint_url),
                "region": r.region,
                "profile": r.profile,
                "chunked": r.chunked,
                "from": list(r.sources),
            }
            for n, r in sorted(s.remotes.items())
        },
        "git_remotes": stores,
        "big_file_threshold": s.big_file_threshold,
        "transfers": s.transfers,
        "skip_smudge": s.skip_smudge,
        "filter": git_config.last(ctx.git_config, "filter.data.process"),
        "merge_driver": git_config.last(ctx.git_config, "merge.data.driver"),
        "textconv": git_config.last(ctx.git_config, "diff.data.textconv"),
    }
    if as_json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"git-data {__version__}")
    print(f"cache: {doc['cache']}")
    missing = "(not installed: run git data install)"
    print(f"filter.data.process: {doc['filter'] or missing}")
    print(f"merge.data.driver: {doc['merge_driver'] or missing}")
    print(f"diff.data.textconv: {doc['textconv'] or missing}")
    print(f"config file: {doc['config_file'] or '(none)'}")
    print(f"default data remote: {s.default_remote or '(none)'}")
    for n, r in s.remotes.items():
        extra = "".join(
            f" {k}={v}"
            for k, v in (
                ("endpoint_url", r.endpoint_url and redact_url(r.endpoint_url)),
                ("region", r.region),
                ("profile", r.profile),
            )
            if v
        )
        print(f"data remote {n}: {redact_url(r.url)}{extra} (from {', '.join(r.sources)})")
    for n, info in stores.items():
        where = (
            info.get("store") and f"{info['store']} ({info['how']})" or f"error: {info['error']}"
        )
        print(f"git remote {n} -> {where}")
        if info.get("chunked"):
            print(f"  chunked: {info['chunked']}")
        if info.get("credentials"):
            print(f"  credentials: {info['credentials']}")
    print(f"downloads use: {doc['download_remote'] or '(no remote)'}")
    print(f"big file threshold: {s.big_file_threshold} bytes; transfers: {s.transfers}")
    print(f"skip smudge: {'yes' if s.skip_smudge else 'no'}")
    return 0
