"""decode_export: BOMs, UTF-8 first, UTF-16, declared encodings, code pages, binaries.

The code-page fixtures are bank-like files written here (no real exports): a statement
header and 5-15 rows in the language of the code page, so the detector has the evidence a
real export gives it. Each must decode to exactly the text it was written from.
"""

from __future__ import annotations

import codecs

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest.decode import decode_export, implausibility, rank_code_pages

CZECH = (
    "Číslo účtu;2001234567/2010\n"
    "Období;01.02.2024 - 29.02.2024\n"
    "\n"
    "Datum;Částka;Měna;Protistrana;Zpráva pro příjemce;Typ transakce\n"
    "01.02.2024;-1 234,50;CZK;Žďárský Potraviny s.r.o.;Nákup potravin;Platba kartou\n"
    "02.02.2024;-389,00;CZK;Lékárna U Černého orla;Léky;Platba kartou\n"
    "05.02.2024;45 600,00;CZK;Zaměstnavatel a.s.;Výplata za leden;Příchozí úhrada\n"
    "07.02.2024;-12 500,00;CZK;Bytové družstvo Šumava;Nájemné únor;Trvalý příkaz\n"
    "10.02.2024;-215,90;CZK;Čerpací stanice Benzina Říčany;Palivo;Platba kartou\n"
    "14.02.2024;-1 099,00;CZK;Elektrárna Dukovany s.r.o.;Záloha elektřina;Inkaso\n"
    "20.02.2024;-78,00;CZK;Dopravní podnik hl. m. Prahy;Jízdenka;Platba kartou\n"
    "29.02.2024;-56,40;CZK;Poplatek za vedení účtu;Měsíční poplatek;Poplatek\n"
)

POLISH = (
    "Data operacji;Data księgowania;Opis operacji;Tytuł;Nadawca/Odbiorca;Kwota;Saldo po operacji\n"
    "2024-03-01;2024-03-01;Przelew przychodzący;Wynagrodzenie za luty;Przedsiębiorstwo Żółw Sp. z o.o.;"
    "8 450,00;9 120,55\n"
    "2024-03-02;2024-03-04;Płatność kartą;Zakupy spożywcze;Biedronka Łódź Piotrkowska;-156,78;8 963,77\n"
    "2024-03-05;2024-03-05;Przelew wychodzący;Czynsz marzec;Spółdzielnia Mieszkaniowa Śródmieście;"
    "-1 850,00;7 113,77\n"
    "2024-03-08;2024-03-08;Płatność kartą;Paliwo;Stacja Orlen Kraków Źródlana;-243,10;6 870,67\n"
    "2024-03-11;2024-03-11;Zlecenie stałe;Składka członkowska;Towarzystwo Przyjaciół Gąsawy;-50,00;6 820,67\n"
    "2024-03-15;2024-03-15;Płatność BLIK;Bilet miesięczny;Zarząd Transportu Miejskiego w Gdańsku;-99,00;6 721,67\n"
    "2024-03-20;2024-03-20;Opłata;Opłata za prowadzenie rachunku;Bank Śląski;-9,99;6 711,68\n"
    "2024-03-28;2024-03-28;Przelew wychodzący;Zwrot za obiad;Jaś Kowalczyk-Wąsowicz;-35,50;6 676,18\n"
)

HUNGARIAN = (
    "Könyvelés dátuma;Összeg;Pénznem;Partner neve;Közlemény\n"
    "2024.02.01;-12 990;HUF;Tesco Áruház Győr;Bevásárlás\n"
    "2024.02.03;485 000;HUF;Munkáltató Kft.;Munkabér január\n"
    "2024.02.05;-8 450;HUF;ELMŰ Nyrt.;Villanyszámla\n"
    "2024.02.10;-1 250;HUF;Budapesti Közlekedési Központ;Bérlet\n"
    "2024.02.14;-23 400;HUF;Fővárosi Vízművek Zrt.;Vízdíj\n"
    "2024.02.20;-3 890;HUF;Gyógyszertár Szőlő utca;Gyógyszer\n"
)

LITHUANIAN = (
    "Sąskaitos Nr.;LT12 7300 0101 2345 6789\n"
    "Data;Suma;Valiuta;Gavėjas / mokėtojas;Mokėjimo paskirtis;Tipas\n"
    "2024-01-03;-45,20;EUR;UAB „Šiaulių energija“;Sąskaita už elektrą;Mokėjimas\n"
    "2024-01-05;1 850,00;EUR;UAB Žalgirio statyba;Darbo užmokestis už gruodį;Įplaukos\n"
    "2024-01-08;-12,99;EUR;Maxima Vilniaus g. 12;Pirkinys kortele;Kortelė\n"
    "2024-01-12;-320,00;EUR;Namų savininkų bendrija „Ąžuolas“;Nuoma sausio mėn.;Mokėjimas\n"
    "2024-01-15;-7,50;EUR;Vilniaus viešasis transportas;Elektroninis bilietas;Kortelė\n"
    "2024-01-22;-23,80;EUR;Vaistinė „Eurovaistinė“ Kaunas;Vaistai;Kortelė\n"
    "2024-01-31;-1,20;EUR;Banko mokestis;Mėnesinis sąskaitos aptarnavimo mokestis;Mokestis\n"
)

LATVIAN = (
    "Datums;Saņēmējs/Maksātājs;Maksājuma mērķis;Summa;Valūta\n"
    "03.02.2024;SIA Rimi Latvia;Pirkums ar karti Rīga;-28,45;EUR\n"
    "05.02.2024;Darba devējs SIA;Alga par janvāri;1 620,00;EUR\n"
    "09.02.2024;Latvenergo AS;Elektrība janvāris;-54,30;EUR\n"
    "13.02.2024;Dzīvokļu īpašnieku biedrība;Apsaimniekošana;-142,00;EUR\n"
    "17.02.2024;Rīgas satiksme;E-talons mēnesim;-30,00;EUR\n"
    "24.02.2024;Aptieka Mēness;Zāles;-9,70;EUR\n"
)

RUSSIAN = (
    "Выписка по счёту 40817810099910004312\n"
    "Дата операции;Дата списания;Описание;Сумма операции;Валюта;Остаток\n"
    "01.03.2024;01.03.2024;Зачисление заработной платы ООО «Ромашка»;85 000,00;RUB;92 340,15\n"
    "02.03.2024;04.03.2024;Оплата в магазине Пятёрочка Москва;-1 245,60;RUB;91 094,55\n"
    "05.03.2024;05.03.2024;Перевод по номеру телефона Ивану Петровичу С.;-5 000,00;RUB;86 094,55\n"
    "07.03.2024;07.03.2024;Оплата услуг ЖКХ за февраль;-7 812,34;RUB;78 282,21\n"
    "10.03.2024;11.03.2024;Аптека «Здоровье» ул. Тверская;-634,00;RUB;77 648,21\n"
    "15.03.2024;15.03.2024;Метрополитен, пополнение карты «Тройка»;-1 500,00;RUB;76 148,21\n"
    "20.03.2024;20.03.2024;Кафе «Шоколадница»;-890,00;RUB;75 258,21\n"
    "31.03.2024;31.03.2024;Комиссия за обслуживание счёта;-199,00;RUB;75 059,21\n"
)

UKRAINIAN = (
    "Дата;Опис операції;Сума;Валюта\n"
    "01.03.2024;Зарахування заробітної плати ТОВ «Сонячний їжак»;32 000,00;UAH\n"
    "02.03.2024;Оплата в супермаркеті Сільпо Київ;-1 245,60;UAH\n"
    "04.03.2024;Переказ на картку Ґалині Іваненко;-2 000,00;UAH\n"
    "07.03.2024;Комунальні послуги за лютий;-3 412,34;UAH\n"
    "11.03.2024;Аптека «Здоров'я» вул. Хрещатик;-434,00;UAH\n"
    "20.03.2024;Київський метрополітен, поповнення;-300,00;UAH\n"
)

GERMAN = (
    "Kontoumsätze Girokonto DE12 3456 7890 1234 5678 90\n"
    "Buchungstag;Valuta;Auftraggeber/Empfänger;Verwendungszweck;Betrag (€);Währung\n"
    "01.02.2024;01.02.2024;Stadtwerke München GmbH;Strom Februar – Abschlag;-89,50;EUR\n"
    "02.02.2024;02.02.2024;Bäckerei Müller;Kartenzahlung „Frühstück“;-4,20;EUR\n"
    "05.02.2024;05.02.2024;Arbeitgeber GmbH & Co. KG;Gehalt Januar;3.210,55;EUR\n"
    "08.02.2024;08.02.2024;Drogerie Roßmann Köln;Einkauf;-23,45;EUR\n"
    "12.02.2024;12.02.2024;Hausverwaltung Schäfer;Miete Februar inkl. Nebenkosten;-1.150,00;EUR\n"
    "15.02.2024;15.02.2024;Deutsche Bahn Fernverkehr;Fahrkarte Düsseldorf–Nürnberg;-79,90;EUR\n"
    "20.02.2024;20.02.2024;Café Zürcher Straße;Kartenzahlung;-12,80;EUR\n"
    "29.02.2024;29.02.2024;Kontoführungsgebühr;Entgelt Februar;-4,95;EUR\n"
)

SPANISH = (
    "Fecha;Concepto;Importe;Saldo\n"
    "01/02/2024;Nómina Compañía Española de Teléfonos;2.340,00;3.120,45\n"
    "03/02/2024;Compra tarjeta Panadería Muñoz;-5,40;3.115,05\n"
    "06/02/2024;Recibo Iberdrola electricidad;-67,89;3.047,16\n"
    "10/02/2024;Bizum a José Ángel Núñez;-20,00;3.027,16\n"
    "14/02/2024;Comisión mantenimiento cuenta;-3,00;3.024,16\n"
    "20/02/2024;Compra tarjeta El Corte Inglés Coruña;-89,95;2.934,21\n"
)

TURKISH = (
    "Tarih;Açıklama;Tutar;Bakiye\n"
    "01.03.2024;Maaş ödemesi Yılmaz Şirketi;24.500,00;26.120,45\n"
    "02.03.2024;Migros Şişli alışveriş;-845,60;25.274,85\n"
    "05.03.2024;İstanbul Kart yükleme;-200,00;25.074,85\n"
    "08.03.2024;Doğalgaz faturası İGDAŞ;-1.312,34;23.762,51\n"
    "12.03.2024;Eczane Güneş Çankaya;-134,00;23.628,51\n"
    "20.03.2024;Kira ödemesi Ayşe Öztürk;-9.000,00;14.628,51\n"
)

GREEK = (
    "Ημερομηνία;Περιγραφή;Ποσό;Υπόλοιπο\n"
    "01/03/2024;Μισθοδοσία Εταιρεία Α.Ε.;1.450,00;2.120,45\n"
    "02/03/2024;Σκλαβενίτης Αθήνα αγορά;-84,60;2.035,85\n"
    "05/03/2024;ΔΕΗ λογαριασμός ρεύματος;-112,34;1.923,51\n"
    "08/03/2024;Φαρμακείο Παπαδοπούλου;-23,00;1.900,51\n"
    "12/03/2024;Ενοίκιο Μαρτίου;-450,00;1.450,51\n"
)


def _fit(text: str, encoding: str) -> str:
    """The text with the characters the code page lacks (« » in KOI8-R) as plain quotes."""
    return "".join(ch if ch.encode(encoding, errors="ignore") else '"' for ch in text)


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        (CZECH, "cp1250", "cp1250"),
        (POLISH, "cp1250", "cp1250"),
        (POLISH, "iso8859-2", "iso8859-2"),
        (CZECH, "iso8859-2", "iso8859-2"),
        (HUNGARIAN, "cp1250", "cp1250"),
        (LITHUANIAN, "cp1257", "cp1257"),
        (LATVIAN, "cp1257", "cp1257"),
        (RUSSIAN, "cp1251", "cp1251"),
        (UKRAINIAN, "cp1251", "cp1251"),
        (RUSSIAN, "koi8-r", "koi8-r"),
        (RUSSIAN, "cp866", "cp866"),
        (GERMAN, "cp1252", "cp1252"),
        (SPANISH, "cp1252", "cp1252"),
        (TURKISH, "cp1254", "cp1254"),
        (GREEK, "cp1253", "cp1253"),
        (SPANISH, "cp850", "cp850"),
    ],
)
def test_code_pages_read_right(text: str, encoding: str, expected: str) -> None:
    text = _fit(text, encoding)
    decoded, got = decode_export(text.encode(encoding), "export.csv")
    assert decoded == text
    assert got == expected


@pytest.mark.parametrize(
    ("text", "encoding"),
    [(HUNGARIAN, "iso8859-2"), (SPANISH, "latin-1"), (LATVIAN, "iso8859-13"), (TURKISH, "iso8859-9")],
)
def test_twin_code_pages_give_the_same_text(text: str, encoding: str) -> None:
    # ISO 8859-2 and cp1250 agree on every Hungarian letter: either name is right, the text must be.
    decoded, got = decode_export(text.encode(encoding), "export.csv")
    assert decoded == text
    assert text.encode(encoding).decode(got) == text


def test_utf8_first_and_its_bom() -> None:
    assert decode_export(CZECH.encode("utf-8"), "a.csv") == (CZECH, "utf-8")
    assert decode_export(b"\xef\xbb\xbf" + CZECH.encode("utf-8"), "a.csv") == (CZECH, "utf-8-sig")
    assert decode_export(b"Date,Amount\n2024-01-01,1.00\n", "a.csv") == ("Date,Amount\n2024-01-01,1.00\n", "utf-8")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_or_without_bom(encoding: str) -> None:
    decoded, got = decode_export(GERMAN.encode(encoding), "a.csv")
    assert decoded.lstrip("\ufeff") == GERMAN
    assert got.startswith(encoding[:6])


def test_a_utf8_bom_before_code_page_bytes_is_dropped() -> None:
    decoded, got = decode_export(codecs.BOM_UTF8 + CZECH.encode("cp1250"), "a.csv")
    assert (decoded, got) == (CZECH, "cp1250")


def test_declared_encoding_wins_when_the_bytes_agree() -> None:
    assert decode_export(LITHUANIAN.encode("cp1257"), "a.csv", "windows-1257") == (LITHUANIAN, "cp1257")
    assert decode_export(CZECH.encode("cp1250"), "a.csv", "CP1250") == (CZECH, "cp1250")
    # Plain ASCII agrees with any ASCII-based declaration.
    assert decode_export(b"Date;Amount\n", "a.csv", "cp1252") == ("Date;Amount\n", "cp1252")


@pytest.mark.parametrize("declared", ["cp1252", "latin-1", "cp1250", "iso-8859-2", "shift_jis"])
def test_utf8_bytes_beat_a_declared_code_page(declared: str) -> None:
    assert decode_export(CZECH.encode("utf-8"), "a.ofx", declared) == (CZECH, "utf-8")


@pytest.mark.parametrize("declared", ["utf-16", "UTF-16LE", "utf-32"])
def test_a_utf16_declaration_on_bytes_without_nuls_loses(declared: str) -> None:
    assert decode_export(GERMAN.encode("utf-8"), "a.ofx", declared) == (GERMAN, "utf-8")
    assert decode_export(b"<OFX></OFX>\n", "a.ofx", declared) == ("<OFX></OFX>\n", "utf-8")


def test_declarations_the_bytes_contradict_are_ignored() -> None:
    raw = CZECH.encode("cp1250")
    assert decode_export(raw, "a.csv", "utf-8") == (CZECH, "cp1250")  # not UTF-8
    assert decode_export(raw, "a.csv", "no-such-codec") == (CZECH, "cp1250")  # unknown name
    assert decode_export(raw, "a.csv", "ascii") == (CZECH, "cp1250")  # not ASCII
    # Latin-1 would turn the € (0x80) and „“ into control characters.
    assert decode_export(GERMAN.encode("cp1252"), "a.csv", "latin-1") == (GERMAN, "cp1252")
    # OFX's boilerplate CHARSET:1252 on a Central European file: mojibake another code page reads plainly.
    assert decode_export(CZECH.encode("cp1250"), "a.ofx", "cp1252") == (CZECH, "cp1250")
    assert decode_export(POLISH.encode("cp1250"), "a.ofx", "cp1252") == (POLISH, "cp1250")
    assert decode_export(LITHUANIAN.encode("cp1257"), "a.ofx", "cp1252") == (LITHUANIAN, "cp1257")


def test_detection_looks_past_the_head_of_a_large_file() -> None:
    # 2 MB of ASCII rows, then the accented ones: the sample takes lines holding non-ASCII bytes.
    head = "Datum;Částka;Protistrana\n".encode("cp1250")
    filler = b"01.01.2024;-10,00;SHOP 123 PRAHA\n" * 60_000
    tail = "".join(CZECH.splitlines(keepends=True)[4:]).encode("cp1250")
    decoded, got = decode_export(head + filler + tail, "big.csv")
    assert got == "cp1250"
    assert decoded.endswith("Poplatek za vedení účtu;Měsíční poplatek;Poplatek\n")


def test_a_byte_the_sample_did_not_show_falls_back_to_a_code_page_that_has_it() -> None:
    # 0x81 is undefined in cp1252 and cp1250; it appears only after the detector's budget.
    many = GERMAN.encode("cp1252") * 200
    data = many + b"01.03.2024;X\x81Y;-1,00\n"
    decoded, got = decode_export(data, "a.csv")
    assert decoded.startswith(GERMAN[:40])
    assert data.decode(got) == decoded


def test_rank_prefers_the_right_code_page_and_mojibake_scores_worse() -> None:
    raw = POLISH.encode("iso8859-2")
    assert rank_code_pages(raw)[0] == "iso8859-2"
    assert implausibility(POLISH) == 0
    assert implausibility(raw.decode("cp1250")) > 0.1  # "±" and "¶" where ą and ś belong
    assert implausibility(RUSSIAN.encode("cp1251").decode("koi8-r")) > 0.1  # case flips: "бШОХЯЙЮ"
    assert implausibility(_fit(GERMAN, "cp850").encode("cp850").decode("cp1252", errors="replace")) > 0.3


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"  \r\n\t\n",
        codecs.BOM_UTF8,
        codecs.BOM_UTF8 + b"\n\n",
        b"\x1c\x1d\x1e\n",  # record separators: whitespace to str.splitlines, no text
    ],
)
def test_empty_files_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput, match=r"^a\.csv: the file is empty$"):
        decode_export(data, "a.csv")


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 4,
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256)) * 4,
        bytes(range(1, 32)) * 40,  # control characters, no NUL
    ],
)
def test_binary_files_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput, match=r"^a\.csv: a binary file, not a bank export"):
        decode_export(data, "a.csv")


def test_a_bom_that_lies_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="UTF-16 byte-order mark but is not UTF-16"):
        decode_export(codecs.BOM_UTF16_LE + b"abc", "a.csv")
