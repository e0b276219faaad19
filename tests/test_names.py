import base64

from gitdata.names import json_fields, quote


def test_quote_like_git():
    assert quote(b"plain name.bin") == "plain name.bin"
    assert quote(b"nl\nline.bin") == '"nl\\nline.bin"'
    assert quote(b"tab\there") == '"tab\\there"'
    assert quote(b'q"uote\\') == '"q\\"uote\\\\"'
    assert quote("café".encode()) == '"caf\\303\\251"'
    assert quote("caf\xe9".encode("latin-1")) == '"caf\\351"'


def test_quote_path_false_keeps_utf8():
    assert quote("café".encode(), quote_path=False) == "café"
    assert quote(b"a\nb", quote_path=False) == '"a\\nb"'


def test_json_fields_lossless():
    assert json_fields("café".encode()) == {"path": "café"}
    raw = b"caf\xe9"
    doc = json_fields(raw)
    assert base64.b64decode(doc["path_base64"]) == raw
    assert "\udce9" not in doc["path"]  # no lone surrogate ever reaches JSON
