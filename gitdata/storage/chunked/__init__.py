"""The chunked store (issue 12; design and byte layouts: docs/chunked-store.md).

Files cut into content-defined chunks, kept as frames in packs of at most 32 MiB, each file
described by a record of byte ranges in packs or whole objects, records collected in one
manifest per push. The design lands in steps (section 8.2); nothing here is wired into push,
fetch or gc yet.

Landed so far:
- step 3, formats and chunker: `format/` (FORMAT text, frames, pack index and trailer,
  manifests: pure functions over bytes), `chunker.py` (chunk_file, the compression rule),
  `packer.py` (PackWriter).

blake3, pyfastcdc and zstandard are imported only inside this package, and only when used.
Never imports git/, cache, transfer or sync: those call in, not the other way round.
"""
