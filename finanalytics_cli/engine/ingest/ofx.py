"""A tolerant OFX 1.x (SGML) / 2.x (XML) / QFX reader.

Real bank files are often not compliant: BOMs, blank lines before the header, lower-case
or missing headers, no SIGNON, unclosed elements, junk after ``</OFX>``. This reader
tokenises tags itself and builds a tree, closing leaf elements that SGML leaves open;
it never expands entities beyond the five XML ones (no DTDs, no external entities), so
hostile files cannot blow up memory. ofxtools is GPL-3.0 (not usable in an MIT project).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_.]*)\s*(/?)>([^<]*)", re.S)
_HEADER_CHARSET = re.compile(r"CHARSET\s*:\s*([A-Za-z0-9_-]+)", re.I)
_XML_ENCODING = re.compile(r"<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9_-]+)[\"']", re.I)
_OFX_DATE = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})")

_CHARSETS = {
    "1252": "cp1252",
    "ISO-8859-1": "latin-1",
    "8859-1": "latin-1",
    "UTF-8": "utf-8",
    "NONE": None,
    "USASCII": None,
    "US-ASCII": None,
    "ASCII": None,
    "UNICODE": "utf-8",
    "CP1252": "cp1252",
    "WINDOWS-1252": "cp1252",
    "437": "cp437",
    "850": "cp850",
}


@dataclass
class Node:
    tag: str
    text: str = ""
    children: list[Node] = field(default_factory=list)

    def find(self, tag: str) -> Node | None:
        for c in self.children:
            if c.tag == tag:
                return c
        return None

    def findall(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def iter(self, tag: str) -> list[Node]:
        out = []
        stack = [self]
        while stack:
            n = stack.pop()
            if n.tag == tag:
                out.append(n)
            stack.extend(reversed(n.children))
        return out

    def value(self, path: str) -> str | None:
        node: Node | None = self
        for part in path.split("/"):
            node = node.find(part) if node else None
        if node is None:
            return None
        text = node.text.strip()
        return text or None


def looks_like_ofx(head: bytes) -> bool:
    h = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    return h.startswith(b"OFXHEADER") or b"<OFX>" in h or (h.startswith(b"<?XML") and b"OFX" in h)


def declared_encoding(data: bytes) -> str | None:
    head = data[:2048].decode("ascii", errors="ignore")
    m = _XML_ENCODING.search(head)
    if m:
        return m.group(1)
    m = _HEADER_CHARSET.search(head)
    if m:
        return _CHARSETS.get(m.group(1).upper(), None)
    return None


def parse_tree(text: str, name: str) -> Node:
    """Build the element tree of the <OFX> body."""
    start = re.search(r"<OFX>", text, re.I)
    if not start:
        raise InvalidInput(f"{name}: not an OFX file (no <OFX> element)")
    body = text[start.start() :]
    end = re.search(r"</OFX>", body, re.I)
    truncated = end is None
    if end:
        body = body[: end.end()]  # junk after </OFX> is ignored
    root = Node("#root")
    stack = [root]
    for m in _TAG.finditer(body):
        closing, tag, selfclose, text = m.group(1), m.group(2).upper(), m.group(3), m.group(4)
        if closing:
            # Close up to the matching element; unknown closers are ignored.
            for i in range(len(stack) - 1, 0, -1):
                if stack[i].tag == tag:
                    del stack[i:]
                    break
            continue
        node = Node(tag)
        stack[-1].children.append(node)
        if selfclose:
            continue
        value = text.strip()
        if value:
            # SGML leaf (<TRNAMT>-12.00) or XML leaf (<TRNAMT>-12.00</TRNAMT>): a leaf either way.
            node.text = html.unescape(value)
        else:
            stack.append(node)
    ofx = root.find("OFX")
    if ofx is None:
        raise InvalidInput(f"{name}: not an OFX file (no <OFX> element)")
    if truncated and not ofx.iter("STMTTRN"):
        raise InvalidInput(f"{name}: the OFX file is truncated (no </OFX>) and holds no transactions")
    return ofx


def parse_ofx_date(text: str | None) -> dt.date | None:
    if not text:
        return None
    m = _OFX_DATE.match(text)
    if not m:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def parse_ofx_amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    t = text.strip().replace(" ", "")
    if "," in t and "." not in t:
        t = t.replace(",", ".")  # some European banks write a decimal comma
    elif "," in t and "." in t:
        t = t.replace(",", "") if t.rfind(".") > t.rfind(",") else t.replace(".", "").replace(",", ".")
    if t.startswith("+"):
        t = t[1:]
    try:
        value = Decimal(t)
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= Decimal("1e16"):
        return None
    return value.quantize(Decimal("0.01"))


@dataclass
class OfxStatement:
    kind: str  # bank | creditcard | investment
    account_id: str | None
    bank_id: str | None
    account_type: str | None
    currency: str
    org: str | None
    ledger_balance: Decimal | None
    ledger_date: dt.date | None
    transactions: list[dict[str, Any]]
    rejected: list[tuple[int, str, str]]
    available_balance: Decimal | None = None  # a card's available credit (AVAILBAL)


def _status_error(ofx: Node, name: str) -> None:
    for status in ofx.iter("STATUS"):
        code = status.value("CODE")
        severity = (status.value("SEVERITY") or "").upper()
        if code and code not in ("0", "1") and severity == "ERROR":
            msg = status.value("MESSAGE") or "no message"
            if not ofx.iter("STMTTRN"):
                raise InvalidInput(
                    f"{name}: the bank's server returned an error, not a statement (OFX status {code}: {msg})"
                )


def read_statements(text: str, name: str) -> list[OfxStatement]:
    ofx = parse_tree(text, name)
    _status_error(ofx, name)
    org = ofx.value("SIGNONMSGSRSV1/SONRS/FI/ORG")
    statements: list[OfxStatement] = []
    for kind, tag, acct_tag in (
        ("bank", "STMTRS", "BANKACCTFROM"),
        ("creditcard", "CCSTMTRS", "CCACCTFROM"),
        ("investment", "INVSTMTRS", "INVACCTFROM"),
    ):
        for st in ofx.iter(tag):
            acct = st.find(acct_tag)
            currency = (st.value("CURDEF") or "USD").upper()[:3]
            txs: list[dict[str, Any]] = []
            rejected: list[tuple[int, str, str]] = []
            for i, tr in enumerate(st.iter("STMTTRN"), start=1):
                raw = "; ".join(f"{c.tag}={c.text}" for c in tr.children if c.text)
                posted = parse_ofx_date(tr.value("DTPOSTED")) or parse_ofx_date(tr.value("DTUSER"))
                amount = parse_ofx_amount(tr.value("TRNAMT"))
                if posted is None:
                    rejected.append((i, f"invalid or missing DTPOSTED {tr.value('DTPOSTED')!r}", raw))
                    continue
                if amount is None:
                    rejected.append((i, f"invalid or missing TRNAMT {tr.value('TRNAMT')!r}", raw))
                    continue
                payee = tr.value("NAME") or tr.value("PAYEE/NAME") or tr.value("MEMO")
                memo = tr.value("MEMO")
                tx_currency = (tr.value("CURRENCY/CURSYM") or tr.value("ORIGCURRENCY/CURSYM") or currency).upper()[:3]
                txs.append(
                    {
                        "line_no": i,
                        "posted_date": posted,
                        "amount": amount,
                        "payee_raw": payee,
                        "memo": memo if memo != payee else None,
                        "fitid": tr.value("FITID"),
                        "currency": tx_currency,
                        "balance": None,
                        "is_pending": False,
                        "raw_row": raw,
                        "trntype": (tr.value("TRNTYPE") or "").upper(),
                    }
                )
            if kind == "investment" and not txs:
                continue  # positions and trades only: no cash transactions to import
            ledger = st.find("LEDGERBAL")
            avail = st.find("AVAILBAL")
            statements.append(
                OfxStatement(
                    kind=kind,
                    account_id=acct.value("ACCTID") if acct else None,
                    bank_id=acct.value("BANKID") if acct else None,
                    account_type=(acct.value("ACCTTYPE") if acct else None) or kind,
                    currency=currency,
                    org=org,
                    ledger_balance=parse_ofx_amount(ledger.value("BALAMT")) if ledger else None,
                    ledger_date=parse_ofx_date(ledger.value("DTASOF")) if ledger else None,
                    transactions=txs,
                    rejected=rejected,
                    available_balance=parse_ofx_amount(avail.value("BALAMT")) if avail else None,
                )
            )
    if not statements:
        if ofx.iter("INVSTMTRS"):
            raise InvalidInput(
                f"{name}: an investment statement with no cash transactions; "
                "only bank and credit-card statements are imported"
            )
        raise InvalidInput(f"{name}: the OFX file holds no bank or credit-card statement")
    return statements
