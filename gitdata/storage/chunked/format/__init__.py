"""Format 1 of the chunked store, as bytes (docs/chunked-store.md, sections 3.2-3.4).

Pure functions over bytes, no I/O: the FORMAT text (common), frames and the pack header, index
and trailer (pack), manifests (manifest). Every decoder checks every rule of the document and
refuses a violation with a FormatError (CorruptPack, CorruptManifest) or, for FORMAT, an
UnsupportedStore, whose message names the object; no input makes a decoder raise anything else.
Encoders take valid values: anything else is a bug (ValueError).

blake3 and zstandard are imported on first use, so that importing this package costs nothing to
a process that never touches a chunked store. Imports nothing of gitdata but errors.
"""

from __future__ import annotations
