"""Turn an export's bytes into text: BOMs, UTF-8, UTF-16, single-byte code pages; refuse binaries.

The order of evidence, strongest first:

1. a byte-order mark (UTF-8, UTF-16, UTF-32);
2. UTF-16 without a BOM (every other byte NUL); any other NUL means a binary file,
   unless the file declares an encoding that reads it as text;
3. an encoding the file declares (a --map ``encoding`` or an OFX header), when the bytes
   decode with it and do not contradict it: a single-byte declaration loses to bytes that
   hold non-ASCII and validate as UTF-8, a UTF-16/32 declaration loses to bytes with no
   NULs, a declaration that turns bytes into control characters is wrong, and so is a
   code page that reads the accented lines as mojibake another code page reads plainly
   (OFX's boilerplate ``CHARSET:1252`` on a Czech cp1250 file);
4. UTF-8: bytes that decode as UTF-8 are UTF-8;
5. otherwise charset-normalizer chooses among single-byte code pages (Windows and ISO
   Latin, Baltic and Cyrillic, DOS and Mac), looking at a bounded sample (the head of the
   file and the lines that hold non-ASCII bytes), so a 100 MB export costs one scan for
   non-ASCII bytes and one decode. Its ranking is checked against what bank text looks
   like (letters of one alphabet, no stray symbols or case flips inside words), because a
   handful of accented words is little evidence for a statistical detector.

The whole file is then decoded once with the chosen codec, whose normalized Python name
(``cp1250``, ``iso8859-2``, ``utf-8`` ...) is returned with the text.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter

from finanalytics_cli.engine.errors import InvalidInput

_BOMS = [  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]

# Single-byte code pages bank software writes, in the order that breaks ties (two code
# pages that decode the sample to the same text): the most common first.
CODE_PAGES = (
    "cp1252",  # Western Europe, the Americas (a superset of Latin-1's printable range)
    "cp1250",  # Central Europe: Czech, Slovak, Polish, Hungarian, Croatian, Slovene, Romanian
    "cp1251",  # Cyrillic: Russian, Ukrainian, Bulgarian, Serbian
    "cp1257",  # Baltic: Lithuanian, Latvian, Estonian
    "cp1254",  # Turkish
    "cp1253",  # Greek
    "iso8859_2",
    "iso8859_15",
    "latin_1",
    "iso8859_13",
    "iso8859_9",
    "iso8859_7",
    "iso8859_5",
    "koi8_r",
    "koi8_u",
    "cp866",  # DOS Cyrillic
    "cp852",  # DOS Central European
    "cp850",  # DOS Western European
    "mac_roman",  # Excel for Mac's "CSV"
)
_PRIORITY = {codecs.lookup(c).name: i for i, c in enumerate(CODE_PAGES)}
# Code pages few exports still use: they must read the sample clearly better to win.
_RARE = {codecs.lookup(c).name: 0.05 for c in ("koi8_r", "koi8_u", "cp866", "cp852", "cp850", "mac_roman")}

_HEAD = 16 * 1024  # bytes of the file's head the detector sees
_NON_ASCII_BUDGET = 64 * 1024  # bytes of lines holding non-ASCII the detector sees
_LINE_CAP = 2048  # a longer line contributes this much around its non-ASCII byte
_HIGH = re.compile(rb"[\x80-\xff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_C1 = re.compile("[\x80-\x9f]")
_NON_BLANK = re.compile(r"[^\s\ufeff]")  # \s as str.isspace: also the \x1c-\x1f separators
_LATIN = re.compile("[\u00c0-\u024f\u1e00-\u1eff]")

# Non-ASCII characters that bank text really contains besides letters.
_TYPOGRAPHY = set("\xa0€„“”‘’‚‹›–—…«»°§•£¥¢¿¡ªº№\u2009\u202f")

# The non-ASCII letters of the languages bank exports are written in (lower case).
_ALPHABETS = (
    "áčďéěíňóřšťúůýž",  # Czech
    "áäčďéíĺľňóôŕšťúýž",  # Slovak
    "ąćęłńóśźż",  # Polish
    "áéíóöőúüű",  # Hungarian
    "čćđšž",  # Croatian, Slovene, Bosnian
    "ăâîșțşţ",  # Romanian
    "äöüßéàè",  # German (with the French loans in names)
    "àâæçéèêëîïôœùûüÿ",  # French
    "áéíñóúüàèïòç",  # Spanish, Catalan
    "áâãàçéêíóôõú",  # Portuguese
    "àèéìíîòóùú",  # Italian
    "åäöéüæø",  # Swedish, Danish, Norwegian, Finnish
    "áðéíóúýþæö",  # Icelandic
    "äõöüšž",  # Estonian
    "āčēģīķļņšūž",  # Latvian
    "ąčęėįšųūž",  # Lithuanian
    "çğıöşüâîûi̇",  # Turkish
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",  # Russian
    "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя",  # Ukrainian
    "абвгдеёжзійклмнопрстуўфхцчшыьэюя",  # Belarusian
    "абвгдежзийклмнопрстуфхцчшщъьюя",  # Bulgarian
    "абвгдђежзијклљмнњопрстћуфхцчџш",  # Serbian
    "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώϊϋΐΰς",  # Greek
)
_ALPHABET_SETS = tuple(frozenset(a) for a in _ALPHABETS)


def decode_export(data: bytes, name: str, declared: str | None = None) -> tuple[str, str]:
    """Decode a whole file, deciding the encoding once for all of it.

    Returns ``(text, encoding)`` with the encoding's normalized Python codec name.
    ``declared`` (from --map or an OFX header) wins when the bytes decode with it and
    do not contradict it.
    """
    if not data or data.isspace():
        raise InvalidInput(f"{name}: the file is empty")
    body = data
    for bom, enc in _BOMS:
        if not data.startswith(bom):
            continue
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            if enc != "utf-8-sig":
                raise InvalidInput(
                    f"{name}: the file starts with a {enc.upper()} byte-order mark but is not {enc.upper()} text"
                ) from None
            body = data[len(bom) :]  # a UTF-8 BOM put before a code-page file: decide on the rest
            break
        return _checked(text, enc, name)
    if not body or body.isspace():
        raise InvalidInput(f"{name}: the file is empty")
    sample = body[:4096]
    # UTF-16 without a BOM: every other byte is NUL for Latin text.
    if len(sample) >= 4 and sample.count(b"\x00") >= len(sample) // 3:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        enc = "utf-16-le" if odd > even else "utf-16-be"
        try:
            return _checked(body.decode(enc), enc, name)
        except UnicodeDecodeError:
            raise InvalidInput(f"{name}: a binary file, not a bank export") from None
    nul = b"\x00" in sample
    if declared:
        # A declaring file may carry a stray NUL (junk after </OFX>): the control count decides.
        got = _decode_declared(body, declared)
        if got is not None:
            return _checked(*got, name)
    if nul:
        raise InvalidInput(f"{name}: a binary file, not a bank export")
    try:
        return _checked(body.decode("utf-8"), "utf-8", name)
    except UnicodeDecodeError:
        pass
    for codec in rank_code_pages(body):
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            continue  # a byte the sample did not show is undefined in this code page
        return _checked(text, codec, name)
    raise InvalidInput(f"{name}: a binary file, not a bank export (its bytes are no known text encoding)")


def _decode_declared(body: bytes, declared: str) -> tuple[str, str] | None:
    """``(text, codec)`` when the declaration holds, else None (detect instead)."""
    try:
        codec = codecs.lookup(declared.strip()).name
    except (LookupError, ValueError):
        return None  # an unknown name: real exports declare all sorts
    if codec.startswith(("utf-16", "utf-32")):
        return None  # UTF-16/32 text has NULs; these bytes have none, so the header is wrong
    if codec.startswith("utf-8"):
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return None
    if body.isascii():
        return body.decode("ascii"), codec
    try:
        return body.decode("utf-8"), "utf-8"  # multi-byte sequences that validate: the bytes are UTF-8
    except UnicodeDecodeError:
        pass
    try:
        text = body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
    if _C1.search(text):
        return None  # C1 control characters: the bytes are another code page
    if _single_byte(codec) and _implausible_against_detection(body, codec):
        return None
    return text, codec


def _single_byte(codec: str) -> bool:
    return len(bytes(range(128, 256)).decode(codec, errors="replace")) == 128


def _implausible_against_detection(body: bytes, codec: str) -> bool:
    """Whether the declared code page reads the non-ASCII lines as mojibake that another
    code page reads as plain text (a Czech cp1250 file under OFX's boilerplate CHARSET:1252)."""
    lines = _sample(body)[1]
    declared_score = implausibility(lines.decode(codec, errors="replace"))
    if declared_score < 0.15:
        return False
    for other in rank_code_pages(body)[:1]:
        return other != codec and implausibility(lines.decode(other)) <= declared_score / 3
    return False


def _checked(text: str, codec: str, name: str) -> tuple[str, str]:
    """``(text, codec)``, or a clear refusal of an empty file or of binary bytes that decoded."""
    if not _NON_BLANK.search(text):
        raise InvalidInput(f"{name}: the file is empty")
    if len(_CONTROL.findall(text, 0, 4096)) > 8:
        raise InvalidInput(f"{name}: a binary file, not a bank export")
    return text, codec


def rank_code_pages(body: bytes) -> list[str]:
    """The single-byte code pages for non-UTF-8 bytes, the likeliest first."""
    sample, lines = _sample(body)
    import charset_normalizer  # imported here: only files that are not UTF-8 need it

    detected: dict[str, tuple[float, float]] = {}  # codec -> (chaos, coherence)
    try:
        matches = charset_normalizer.from_bytes(
            sample, cp_isolation=list(CODE_PAGES), threshold=0.5, preemptive_behaviour=False
        )
    except Exception:  # noqa: BLE001 - the detector is advice; the checks below still decide
        matches = []
    for m in matches:
        for cp in [m.encoding, *m.could_be_from_charset]:
            try:
                detected.setdefault(codecs.lookup(cp).name, (m.chaos, m.coherence))
            except LookupError:
                continue
    scored = []
    for cp in CODE_PAGES:
        codec = codecs.lookup(cp).name
        try:
            text = lines.decode(codec)
        except UnicodeDecodeError:
            continue
        chaos, coherence = detected.get(codec, (1.0, 0.0))  # not proposed: only as a last resort
        score = implausibility(text) + chaos - 0.1 * coherence + _RARE.get(codec, 0.0)
        scored.append((round(score, 6), _PRIORITY[codec], codec))
    return [codec for _, _, codec in sorted(scored)]


def _sample(body: bytes) -> tuple[bytes, bytes]:
    """(the detector's sample, the lines of it that hold non-ASCII bytes)."""
    head = body[:_HEAD]
    if len(body) > _HEAD and b"\n" in head:
        head = head[: head.rfind(b"\n") + 1]
    parts: list[bytes] = []
    beyond_head: list[bytes] = []
    size = 0
    pos = 0
    while size < _NON_ASCII_BUDGET:
        m = _HIGH.search(body, pos)
        if m is None:
            break
        start = body.rfind(b"\n", 0, m.start()) + 1
        end = body.find(b"\n", m.end())
        end = len(body) if end < 0 else end + 1
        if end - start > _LINE_CAP:
            start, end = max(start, m.start() - _LINE_CAP // 2), min(end, m.start() + _LINE_CAP // 2)
        part = body[start:end]
        parts.append(part if part.endswith(b"\n") else part + b"\n")
        if start >= len(head):
            beyond_head.append(parts[-1])
        size += end - start
        pos = end
    return head + b"".join(beyond_head), b"".join(parts)


def implausibility(text: str) -> float:
    """How little ``text`` looks like bank text, per non-ASCII character (0 = plausible).

    Counts what a wrong code page produces: control characters; symbols where letters
    belong, and punctuation inside a word; a capital inside a word (KOI8-R read as
    cp1251); a Cyrillic or Greek letter inside a Latin word; and letters outside the one
    alphabet that explains most of them.
    """
    non_ascii = 0
    bad = 0.0
    letters: Counter[str] = Counter()
    n = len(text)
    for i, ch in enumerate(text):
        if ch < "\x80":
            continue
        non_ascii += 1
        cat = unicodedata.category(ch)
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < n else " "
        if cat[0] == "L":
            letters[ch.lower()] += 1
            if cat == "Lu" and before.isalpha() and (before.islower() or after.islower()):
                bad += 1  # "вЫПИСКА", "MÜnadskort": a capital inside a word
            if ch in "þÞ" and before.isalpha():
                bad += 1  # Icelandic thorn starts words; inside one it is Turkish ş read as cp1252
            if ch in "çÇ" and after.isalpha() and after not in "aouAOUeiEIıüöÜÖ":
                bad += 1  # French and Portuguese ç comes before a vowel: "devçjs" is Latvian ē
            if not _LATIN.match(ch) and (_ascii_letter(before) or _ascii_letter(after)):
                bad += 1  # a non-Latin letter next to an ASCII letter: one word in two scripts
        elif cat[0] == "C":
            bad += 3
        elif ch not in _TYPOGRAPHY:
            bad += 1
        elif before.isalpha() and after.isalpha() and ch not in "’'\xa0":
            bad += 1  # "Kortk”p": a quotation mark or dash between two letters
    if not non_ascii:
        return 0.0
    total = sum(letters.values())
    if total:
        best = max(sum(k for c, k in letters.items() if c in alphabet) for alphabet in _ALPHABET_SETS)
        bad += total - best
    return bad / non_ascii


def _ascii_letter(ch: str) -> bool:
    return ch < "\x80" and ch.isalpha()
