"""Code schemes (payload -> brand, serial, GTIN) and the bank of issued serials: import, errors, counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from livewarden.errors import RegistryError
from livewarden.registry import load_registry
from livewarden.registry.codes import SchemeReader, digital_link, gtin14
from livewarden.registry.issued import CodesFileError, IssuedCodes

from ..conftest import write_registry

# GS1's own example GTIN (GS1 Digital Link standard), and a UPC-A that is valid
GS1_EXAMPLE = "09506000134352"


def registry_doc() -> dict:
    return {
        "brands": [{"id": "nova", "name": "Nova"}, {"id": "koru", "name": "Koru"}],
        "products": [{"id": "nova-bag", "brand": "nova", "name": "Nova Bag", "images": ["marks/nova.png"],
                      "gtin": GS1_EXAMPLE},
                     {"id": "nova-belt", "brand": "nova", "name": "Nova Belt", "images": ["marks/nova.png"]}],
        "sellers": [{"id": "shop", "name": "Shop"}],
        "code_schemes": [
            {"id": "nova-gs1", "brand": "nova", "kind": "gs1"},
            {"id": "nova-tags", "brand": "nova", "kind": "url", "template": "https://verify.nova.example/t/{serial}",
             "pattern": "[A-Z0-9]{8}"},
            {"id": "koru-serial", "brand": "koru", "kind": "serial", "pattern": "KR-[0-9]{6}"},
        ],
    }


@pytest.fixture
def registry(tmp_path: Path):
    return load_registry(write_registry(tmp_path, registry_doc(), marks={"nova": ("NOVA", 11)}))


def test_gtin_check_digits_are_checked_and_every_length_becomes_14_digits():
    assert gtin14(GS1_EXAMPLE) == GS1_EXAMPLE
    assert gtin14("036000291452") == "00036000291452"  # UPC-A
    assert gtin14("4006381333931") == "04006381333931"  # EAN-13
    assert gtin14("4006381333932") is None  # one digit off
    assert gtin14("40063813339") is None and gtin14("abc") is None


def test_a_digital_link_on_any_resolver_and_the_bracketed_element_string_read_alike():
    expected = {"gtin": GS1_EXAMPLE, "batch": "ABC1", "serial": "12345XYZ"}
    assert digital_link(f"https://id.gs1.org/01/{GS1_EXAMPLE}/10/ABC1/21/12345XYZ") == expected
    assert digital_link(f"https://brand.example/dl/01/{GS1_EXAMPLE}/10/ABC1/21/12345XYZ?x=1") == expected
    assert digital_link(f"(01){GS1_EXAMPLE}(10)ABC1(21)12345XYZ") == expected
    assert digital_link("https://id.gs1.org/01/09506000134353/21/1") is None  # bad check digit
    assert digital_link("https://example.com/page") is None


def test_payloads_are_read_against_the_brands_schemes(registry):
    reader = SchemeReader(registry)
    link = reader.read(f"https://id.gs1.org/01/{GS1_EXAMPLE}/21/SN0001")
    assert (link.scheme, link.brand, link.serial, link.subject) == ("nova-gs1", "nova", "SN0001", "nova-gs1/SN0001")
    assert not link.ambiguous and reader.product_of(link) == "nova-bag"
    tag = reader.read("HTTPS://verify.nova.example/t/AB12CD34")
    assert (tag.scheme, tag.serial, tag.ambiguous) == ("nova-tags", "AB12CD34", False)
    assert reader.read("https://verify.nova.example/t/short").scheme is None  # not the scheme's serial shape
    bare = reader.read("KR-123456")
    assert (bare.scheme, bare.serial, bare.ambiguous) == ("koru-serial", "KR-123456", True)
    ean = reader.read(GS1_EXAMPLE[1:])  # the EAN-13 on the box
    assert (ean.scheme, ean.subject, reader.product_of(ean)) == (None, f"gtin/{GS1_EXAMPLE}", "nova-bag")
    other = reader.read("https://example.com/menu")
    assert (other.scheme, other.subject) == (None, "https://example.com/menu")


def test_bad_schemes_are_refused_with_file_line_and_field(tmp_path: Path):
    doc = registry_doc()
    doc["code_schemes"] = [{"id": "a", "brand": "nova", "kind": "url", "template": "https://x.example/"},
                           {"id": "b", "brand": "ghost", "kind": "serial", "pattern": "[0-9]+", "issued": ["no.csv"]},
                           {"id": "c", "brand": "nova", "kind": "serial", "pattern": "(["}]
    doc["products"][1]["gtin"] = "4006381333932"
    with pytest.raises(RegistryError) as caught:
        load_registry(write_registry(tmp_path, doc, marks={"nova": ("NOVA", 11)}))
    text = str(caught.value)
    assert "code_schemes[0]" in text and "{serial}" in text
    assert "code_schemes[2]" in text and "not a regular expression" in text
    assert "products[1].gtin" in text and "check digit" in text
    assert "registry.yaml:" in text


def test_import_keeps_good_rows_lists_bad_ones_as_file_line_and_reimport_updates(registry, tmp_path: Path):
    bank = IssuedCodes(tmp_path / "codes.db")
    scheme = registry.code_scheme("nova-tags")
    issued = tmp_path / "nova.csv"
    issued.write_text("serial,product,batch,issued_on,revoked\n"
                      "AB12CD34,nova-bag,B7,2026-05-01,\n"
                      "EF56GH78,nova-belt,B7,2026-05-01,false\n"
                      "bad,nova-bag,,,\n"  # line 4: not the pattern
                      "IJ90KL12,nova-hat,,,\n"  # line 5: unknown product
                      "MN34OP56,nova-bag,,May 1st,\n"  # line 6: not a date
                      "QR78ST90,nova-bag,,,maybe\n"  # line 7: not a flag
                      "UV12WX34,nova-bag,B8,2026-06-01,true\n")
    report = bank.import_file(scheme, issued, {p.id for p in registry.products})
    assert report.accepted == 3 and report.bad_rows == 4
    assert [e.split(": ", 1)[0] for e in report.errors] == [f"{issued}:{n}" for n in (4, 5, 6, 7)]
    assert "does not match the scheme's pattern" in report.errors[0] and "unknown product 'nova-hat'" in report.errors[1]
    found = bank.lookup("nova-tags", "AB12CD34")
    assert (found.product, found.batch, found.issued_on, found.revoked) == ("nova-bag", "B7", "2026-05-01", False)
    assert bank.lookup("nova-tags", "UV12WX34").revoked and bank.lookup("nova-tags", "ZZ99ZZ99") is None
    assert bank.lookup("koru-serial", "AB12CD34") is None  # serials are per scheme

    issued.write_text("serial,revoked\nAB12CD34,yes\n")  # a correction: only the columns it has
    assert bank.import_file(scheme, issued).accepted == 1
    assert bank.lookup("nova-tags", "AB12CD34").revoked and bank.count("nova-tags") == 3


def test_a_txt_file_is_one_serial_a_line_and_an_unknown_column_or_binary_file_is_refused(registry, tmp_path):
    bank = IssuedCodes(tmp_path / "codes.db")
    scheme = registry.code_scheme("koru-serial")
    txt = tmp_path / "koru.txt"
    txt.write_text("KR-000001\n\nKR-000002\nKR-12\n")
    report = bank.import_file(scheme, txt)
    assert (report.accepted, report.bad_rows) == (2, 1) and report.errors[0].startswith(f"{txt}:4: ")
    csv = tmp_path / "koru.csv"
    csv.write_text("serial,colour\nKR-000003,red\n")
    with pytest.raises(CodesFileError, match=r"koru\.csv:1: unknown column\(s\) colour"):
        bank.import_file(scheme, csv)
    binary = tmp_path / "koru.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CodesFileError, match=r"koru\.bin:1: not UTF-8 text"):
        bank.import_file(scheme, binary)
    assert bank.count("koru-serial") == 2  # nothing accepted before was lost


def test_sync_imports_the_registrys_files_once_and_again_when_they_change(tmp_path: Path):
    doc = registry_doc()
    (tmp_path / "koru.txt").write_text("KR-000001\nKR-000002\n")
    doc["code_schemes"][2]["issued"] = ["koru.txt"]
    registry = load_registry(write_registry(tmp_path, doc, marks={"nova": ("NOVA", 11)}))
    bank = IssuedCodes(tmp_path / "codes.db")
    assert [r.accepted for r in bank.sync(registry)] == [2]
    assert bank.sync(registry) == []
    (tmp_path / "koru.txt").write_text("KR-000001\nKR-000002\nKR-000003\n")
    assert [r.accepted for r in bank.sync(registry)] == [3] and bank.count("koru-serial") == 3


def test_verifications_and_sightings_keep_counts_and_times_only(registry, tmp_path: Path):
    bank = IssuedCodes(tmp_path / "codes.db")
    (tmp_path / "n.txt").write_text("AB12CD34\n")
    bank.import_file(registry.code_scheme("nova-tags"), tmp_path / "n.txt")
    for t in (100.0, 200.0, 300.0):
        status = bank.verify("nova-tags", "AB12CD34", now=t)
    assert (status.verified, status.first_verified_at, status.last_verified_at) == (3, 100.0, 300.0)
    bank.record_sighting("nova-tags", "AB12CD34", "room-a")
    bank.record_sighting("nova-tags", "AB12CD34", "room-a")
    bank.record_sighting("nova-tags", "AB12CD34", "room-b")
    assert bank.status("nova-tags", "AB12CD34").live_rooms == 2
    stats = bank.statistics(registry.code_scheme("nova-tags"))
    assert (stats["issued"], stats["verified_codes"], stats["verifications"], stats["seen_live_rooms"]) == (1, 1, 3, 2)
    columns = {row[1] for row in sqlite3.connect(tmp_path / "codes.db").execute("PRAGMA table_info(verifications)")}
    assert columns == {"scheme", "serial", "count", "first_at", "last_at"}  # no address, agent or account


def test_the_cli_imports_lists_bad_rows_and_checks_a_code_without_counting_it(registry, tmp_path: Path):
    from typer.testing import CliRunner

    from livewarden.cli import app
    from livewarden.testing.codes import code_image
    import cv2

    registry_file = tmp_path / "registry.yaml"
    (tmp_path / "tags.csv").write_text("serial,product\nAB12CD34,nova-bag\nbad,nova-bag\n")
    common = ["--registry", str(registry_file), "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(app, ["codes", "import", "nova-tags", str(tmp_path / "tags.csv"), *common])
    assert result.exit_code == 1, result.output
    assert "1 codes imported" in result.output and f"{tmp_path / 'tags.csv'}:3: serial 'bad'" in result.output
    missing = CliRunner().invoke(app, ["codes", "import", "ghost", str(tmp_path / "tags.csv"), *common])
    assert missing.exit_code == 1 and "no code scheme 'ghost'" in missing.output

    cv2.imwrite(str(tmp_path / "label.png"), code_image("https://verify.nova.example/t/AB12CD34"))
    checked = CliRunner().invoke(app, ["codes", "check", str(tmp_path / "label.png"), *common])
    assert checked.exit_code == 0, checked.output
    assert '"verdict": "genuine"' in checked.output and '"product": "nova-bag"' in checked.output
    assert IssuedCodes(tmp_path / "data" / "codes.db").status("nova-tags", "AB12CD34").verified == 0
