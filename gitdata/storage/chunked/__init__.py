"""The chunked store (issue 12; design and byte layouts: docs/chunked-store.md).

Files cut into content-defined chunks, kept as frames in packs of at most 32 MiB, each file
described by a record of byte ranges in packs or whole objects, records collected in one
manifest per push. The design lands in steps (section 8.2); chunking is not wired into push,
fetch or gc yet.

Landed so far:
- step 2, what closes the push/store gc race: `runlog.py` (the store gc run log, the push's
  check of it, gc against gc), `manifest_store.py` (a push's manifest, listing and reading
  manifests); the services `push_check.py` and `store_gc.py` call them on every push and
  store gc;
- step 3, formats and chunker: `format/` (FORMAT text, frames, pack index and trailer,
  manifests: pure functions over bytes), `chunker.py` (chunk_file, the compression rule),
  `packer.py` (PackWriter).

blake3, pyfastcdc and zstandard are imported only inside this package, and only when used.
Never imports git/, cache, transfer or sync: those call in, not the other way round.
"""
