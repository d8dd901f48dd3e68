"""A tolerant OFX 1.x (SGML) / 2.x (XML) / QFX reader.

Real bank files are often not compliant: BOMs, blank lines before the header, lower-case
or missing headers, no SIGNON, unclosed elements, junk after ``</OFX>``. This reader
tokenises tags itself and builds a tree, closing leaf elements that SGML leaves open;
it never expands entities beyond the five XML ones (no DTDs, no external entities), so
hostile files cannot blow up memory. ofxtools is GPL-3.0 (not usable in an MIT project).

Comments (``<!-- ... -->``) are removed before tokenising (what a comment hides is not
in the statement) and CDATA sections (``<NAME><![CDATA[AMAZON & CO]]>``) become the
text they wrap. Investment statements are imported only when they are a cash account in
disguise (bank transactions and nothing else); brokerage activity is not a bank statement.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest.currency import UNKNOWN as UNKNOWN_CURRENCY

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_.]*)\s*(/?)>([^<]*)", re.S)
_HEADER_CHARSET = re.compile(r"^\s*CHARSET\s*:\s*([A-Za-z0-9_-]+)", re.I | re.M)
_HEADER_ENCODING = re.compile(r"^\s*ENCODING\s*:\s*([A-Za-z0-9_-]+)", re.I | re.M)
_XML_ENCODING = re.compile(r"<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9_.:-]+)[\"']", re.I)
_OFX_DATE = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})")

# OFX 1.x CHARSET values that are not a Python codec name as written. Others ("1250",
# "WINDOWS-1257", "ISO-8859-2") are handed on as declared; decode_export checks them.
_CHARSETS = {
    "8859-1": "latin-1",
    "UNICODE": "utf-8",
    "NONE": None,
    "USASCII": None,
    "US-ASCII": None,
    "ASCII": None,
}

# Elements that hold a value, never other elements. In SGML an empty one (``<NAME>`` with
# nothing after it) must not swallow the elements that follow it.
_LEAVES = frozenset(
    """TRNTYPE DTPOSTED DTUSER DTAVAIL TRNAMT FITID CORRECTFITID CORRECTACTION SRVRTID CHECKNUM
    REFNUM SIC PAYEEID NAME EXTDNAME MEMO CURDEF CURSYM CURRATE BANKID BRANCHID ACCTID ACCTTYPE
    ACCTKEY BROKERID BALAMT DTASOF DTSTART DTEND CODE SEVERITY MESSAGE DTSERVER LANGUAGE DTPROFUP
    DTACCTUP ORG FID TRNUID CLTCOOKIE MKTGINFO""".split()
)
# What an investment statement's transaction list may hold and still be a cash account.
_CASH_ONLY = frozenset({"DTSTART", "DTEND", "INVBANKTRAN"})


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
    """The encoding an OFX header declares (the XML declaration, or OFX 1.x ENCODING and
    CHARSET), or None. decode_export checks it against the bytes: a declaration the bytes
    contradict loses to them."""
    head = data[:4096].decode("ascii", errors="ignore")
    start = head.upper().find("<OFX>")
    if start >= 0:
        head = head[:start]  # only the header: a memo saying "charset:" declares nothing
    m = _XML_ENCODING.search(head)
    if m:
        return m.group(1)
    m = _HEADER_ENCODING.search(head)
    if m and m.group(1).upper().replace("-", "") in ("UTF8", "UNICODE"):
        return "utf-8"  # ENCODING:UTF-8 makes CHARSET irrelevant
    m = _HEADER_CHARSET.search(head)
    if m:
        value = m.group(1).upper()
        if value in _CHARSETS:
            return _CHARSETS[value]
        return f"cp{value}" if value.isdigit() else value  # "1252" is Windows code page 1252
    return None


def strip_markup(text: str) -> str:
    """Remove comments and unwrap CDATA sections (their text escaped, as element text is).

    A comment with no end runs to the end of the file. Scans with str.find, so many
    unclosed ``<!--`` cannot make it quadratic.
    """
    if "<!" not in text:
        return text
    out: list[str] = []
    pos = 0
    while True:
        i = text.find("<!", pos)
        if i < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:i])
        if text.startswith("<!--", i):
            j = text.find("-->", i + 4)
            if j < 0:
                break
            pos = j + 3
        elif text.startswith("<![CDATA[", i):
            j = text.find("]]>", i + 9)
            end = len(text) if j < 0 else j
            out.append(html.escape(text[i + 9 : end], quote=False))
            pos = len(text) if j < 0 else j + 3
        else:  # <!DOCTYPE ...> and the like: left for the tokeniser to skip
            out.append("<!")
            pos = i + 2
    return "".join(out)


def parse_tree(text: str, name: str) -> Node:
    """Build the element tree of the <OFX> body."""
    text = strip_markup(text)
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
        elif tag not in _LEAVES:
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
        date = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    from finanalytics_cli.engine.ingest.dates import MAX_YEAR, MIN_YEAR

    # A year the CSV reader would not accept either ("18000105"): a rejected row, not a
    # transaction no date filter can reach.
    return date if MIN_YEAR <= date.year <= MAX_YEAR else None


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
    # What the reader noticed without refusing the file (note rows dropped, a brokerage
    # statement skipped, no CURDEF), each one sentence naming the file: for FileImport.warnings.
    warnings: list[str] = field(default_factory=list)
    name: str | None = None  # the account's name in the file (a QIF !Account block)
    currency_source: str | None = None  # where the currency came from, when not the OFX CURDEF


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


_LABELS = {"bank": "bank", "creditcard": "credit-card", "investment": "investment"}


def read_statements(text: str, name: str) -> list[OfxStatement]:
    """The bank, credit-card and cash-account statements of an OFX file.

    Refuses (InvalidInput) a file whose statements are all investment (brokerage)
    statements, and a bank or card statement with neither an account nor a currency (a
    damaged file: nothing of it is imported). A brokerage statement next to bank or card
    statements is skipped, and said so in the first statement's ``warnings``.
    """
    ofx = parse_tree(text, name)
    _status_error(ofx, name)
    org = ofx.value("SIGNONMSGSRSV1/SONRS/FI/ORG")
    statements: list[OfxStatement] = []
    skipped: list[str] = []
    for kind, tag, acct_tag in (
        ("bank", "STMTRS", "BANKACCTFROM"),
        ("creditcard", "CCSTMTRS", "CCACCTFROM"),
        ("investment", "INVSTMTRS", "INVACCTFROM"),
    ):
        for st in ofx.iter(tag):
            acct = st.find(acct_tag)
            account_id = acct.value("ACCTID") if acct else None
            if kind == "investment" and not _is_cash_account(st):
                skipped.append(f"account ending {account_id[-4:]}" if account_id else "no account number")
                continue
            curdef = st.value("CURDEF")
            if account_id is None and curdef is None:
                raise InvalidInput(
                    f"{name}: a {_LABELS[kind]} statement has no account ({acct_tag}) and no currency (CURDEF), "
                    "so the file is damaged and nothing was imported"
                )
            currency = (curdef or UNKNOWN_CURRENCY).upper()[:3]  # never a guess
            txs, rejected, notes = _transactions(st, currency)
            warnings = []
            if curdef is None:
                warnings.append(
                    f"{name}: a {_LABELS[kind]} statement has no currency (CURDEF): "
                    "amounts are stored with currency XXX (unknown)"
                )
            if notes:
                warnings.append(
                    f"{name}: {notes} zero-amount note row(s) dated like the transaction before them were skipped"
                )
            ledger = st.find("LEDGERBAL")
            avail = st.find("AVAILBAL")
            statements.append(
                OfxStatement(
                    kind=kind,
                    account_id=account_id,
                    bank_id=acct.value("BANKID") if acct else None,
                    account_type=(acct.value("ACCTTYPE") if acct else None) or kind,
                    currency=currency,
                    org=org,
                    ledger_balance=parse_ofx_amount(ledger.value("BALAMT")) if ledger else None,
                    ledger_date=parse_ofx_date(ledger.value("DTASOF")) if ledger else None,
                    transactions=txs,
                    rejected=rejected,
                    available_balance=parse_ofx_amount(avail.value("BALAMT")) if avail else None,
                    warnings=warnings,
                )
            )
    if not statements:
        if skipped:
            raise InvalidInput(
                f"{name}: an investment (brokerage) statement, not a bank or card statement, so nothing was imported"
            )
        raise InvalidInput(f"{name}: the OFX file holds no bank or credit-card statement")
    if skipped:
        statements[0].warnings.append(
            f"{name}: {len(skipped)} investment (brokerage) statement(s) ({', '.join(skipped)}) skipped; "
            "only the bank and card statements were imported"
        )
    return statements


def _is_cash_account(st: Node) -> bool:
    """An investment statement that is a cash account: bank transactions, no securities."""
    has_cash = False
    for tranlist in st.findall("INVTRANLIST"):
        for child in tranlist.children:
            if child.tag not in _CASH_ONLY:
                return False  # a buy, sell, income, reinvestment, transfer of securities ...
            has_cash = has_cash or child.tag == "INVBANKTRAN"
    for holdings in ("INVPOSLIST", "INVOOLIST"):
        node = st.find(holdings)
        if node is not None and node.children:
            return False  # positions or open orders: a brokerage account
    return has_cash


def _transactions(st: Node, currency: str) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]], int]:
    """(transactions, rejected rows, note rows skipped) of one statement."""
    txs: list[dict[str, Any]] = []
    rejected: list[tuple[int, str, str]] = []
    notes = 0
    last_posted: str | None = None
    for i, tr in enumerate(st.iter("STMTTRN"), start=1):
        raw = "; ".join(f"{c.tag}={c.text}" for c in tr.children if c.text)
        posted_text = tr.value("DTPOSTED")
        posted = parse_ofx_date(posted_text) or parse_ofx_date(tr.value("DTUSER"))
        amount = parse_ofx_amount(tr.value("TRNAMT"))
        if posted is None:
            rejected.append((i, f"invalid or missing DTPOSTED {posted_text!r}", raw))
            continue
        if amount is None:
            rejected.append((i, f"invalid or missing TRNAMT {tr.value('TRNAMT')!r}", raw))
            continue
        if amount == 0 and posted_text is not None and posted_text == last_posted:
            # Banks add zero-amount "comment" rows stamped like the transaction they annotate.
            notes += 1
            continue
        last_posted = posted_text
        name_ = tr.value("NAME") or tr.value("PAYEE/NAME")
        memo = tr.value("MEMO")
        tx_currency = (tr.value("CURRENCY/CURSYM") or tr.value("ORIGCURRENCY/CURSYM") or currency).upper()[:3]
        txs.append(
            {
                "line_no": i,
                "posted_date": posted,
                "amount": amount,
                "payee_raw": name_ or memo,  # no NAME: the memo is all there is to say who
                "memo": None if memo == name_ else memo,  # kept, unless it repeats NAME
                "fitid": tr.value("FITID"),
                "mcc": tr.value("SIC"),  # the merchant category code, where the bank gives it
                "currency": tx_currency,
                "balance": None,
                "is_pending": False,
                "raw_row": raw,
                "trntype": (tr.value("TRNTYPE") or "").upper(),
            }
        )
    return txs, rejected, notes
