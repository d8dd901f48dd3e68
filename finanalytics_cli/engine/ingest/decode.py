"""Turn an export's bytes into text: BOMs, UTF-8, UTF-16, cp1252/Latin-1; refuse binaries."""

from __future__ import annotations

import codecs

from finanalytics_cli.engine.errors import InvalidInput

_BOMS = [
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]


def decode_export(data: bytes, name: str, declared: str | None = None) -> tuple[str, str]:
    """Decode a whole file, deciding the encoding once for all of it.

    Returns ``(text, encoding)``. ``declared`` (from --map or an OFX header) wins
    when it decodes the file.
    """
    if not data.strip():
        raise InvalidInput(f"{name}: the file is empty")
    if declared:
        try:
            return data.decode(declared), declared
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong declaration is common in real exports: detect instead
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), "utf-16" if enc == "utf-16" else "utf-8-sig"
            except UnicodeDecodeError:
                raise InvalidInput(f"{name}: the file starts with a {enc} byte-order mark but is not {enc}") from None
    sample = data[:4096]
    # UTF-16 without a BOM: every other byte is NUL for Latin text.
    if len(sample) >= 4 and sample.count(b"\x00") >= len(sample) // 3:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        enc = "utf-16-le" if odd > even else "utf-16-be"
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            pass
        raise InvalidInput(f"{name}: a binary file, not a bank export")
    if b"\x00" in sample:
        raise InvalidInput(f"{name}: a binary file, not a bank export")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    if "\ufffd" in text:  # bytes cp1252 leaves undefined (0x81, 0x8d, ...): Latin-1 has them all
        return data.decode("latin-1"), "latin-1"
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\r\n\t")
    if controls > 8:
        raise InvalidInput(f"{name}: a binary file, not a bank export")
    return text, "cp1252"
