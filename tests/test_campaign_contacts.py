"""Loading a campaign's contacts: every problem reported before anything else, files read as streams."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Literal

import pytest

from airflow_provider_oneinbox.campaigns.contacts import (
    MAX_REPORTED_PROBLEMS,
    Contact,
    load_contacts,
)
from airflow_provider_oneinbox.campaigns.sources import MAX_LINE_CHARS
from airflow_provider_oneinbox.exceptions import OneInboxInputError
from airflow_provider_oneinbox.ledger import contact_idempotency_key
from tests.helpers.contacts import FICTIONAL_NUMBERS, CountingPath, write_contacts_csv

ANN, BOB, CID = FICTIONAL_NUMBERS[:3]


def test_a_list_of_dicts_becomes_checked_contacts_in_input_order() -> None:
    book = load_contacts(
        [
            {"to_number": "+1 (415) 555-0100", "variables": {"name": "Ann"}, "metadata": {"crm": 1}},
            {"to_number": BOB, "key": 42, "timezone": "Europe/Paris"},
            {"to_number": CID, "key": "  lead-7 "},
        ]
    )
    assert book.contacts == (
        Contact(0, ANN, ANN, {"name": "Ann"}, {"crm": 1}, None),
        Contact(1, "42", BOB, {}, {}, "Europe/Paris"),
        Contact(2, "lead-7", CID, {}, {}, None),
    )
    assert book.rejected == ()
    assert book.total == 3
    assert book.source == "a list"


def test_each_attempt_of_a_contact_has_its_own_idempotency_key() -> None:
    (contact,) = load_contacts([{"to_number": ANN, "key": "lead-1"}]).contacts
    first = contact.idempotency_key("dag", "run", "task", -1, 1)
    assert first == contact_idempotency_key("dag", "run", "task", -1, "lead-1", 1)
    assert first != contact.idempotency_key("dag", "run", "task", -1, 2)


def test_every_problem_is_reported_at_once_with_where_it_is() -> None:
    contacts = [
        {"to_number": ANN},
        {"to_number": "+15551234567"},  # area code 555: cannot exist
        {"key": "no-number"},
        {"to_number": BOB, "timezone": "Mars/Olympus"},
        {"to_number": ANN},  # the same key (its number) as contacts[0]
        {"to_number": CID, "phone": "x"},
        "not a dict",
        {"to_number": CID, "metadata": {"airflow_idempotency_key": "mine"}},
        {"to_number": CID, "variables": ["a"]},
        {"to_number": 14155550100},
    ]
    with pytest.raises(OneInboxInputError) as caught:
        load_contacts(contacts)
    error = caught.value
    assert error.field == "contacts"
    message = str(error)
    assert "9 of the 10 contacts of a list are invalid, so none was called" in message
    for where, what in [
        ("contacts[1]", "cannot exist"),
        ("contacts[2]", "'to_number': missing"),
        ("contacts[3]", "'Mars/Olympus' is not an IANA time zone name"),
        ("contacts[4]", f"{ANN!r} is also the key of contacts[0]"),
        ("contacts[5]", "unknown field(s) ['phone']"),
        ("contacts[6]", "expected a dict"),
        ("contacts[7]", "'airflow_idempotency_key' is set by the campaign"),
        ("contacts[8]", "'variables': expected a dict"),
        (
            "contacts[9]",
            "'to_number': expected a string such as '+14155550123' (a '+', then digits), got int",
        ),
    ]:
        line = next(line for line in message.splitlines() if line.strip().startswith(f"{where}:"))
        assert what in line
    assert "on_invalid='skip'" in message


def test_the_error_lists_the_first_problems_and_counts_them_all() -> None:
    contacts = [{"to_number": "+10"} for _ in range(57)] + [{"to_number": ANN}]
    with pytest.raises(OneInboxInputError) as caught:
        load_contacts(contacts)
    message = str(caught.value)
    assert "57 of the 58 contacts" in message
    listed = [line for line in message.splitlines() if line.startswith("  contacts[")]
    assert len(listed) == MAX_REPORTED_PROBLEMS
    assert f"... and {57 - MAX_REPORTED_PROBLEMS} more" in message


def test_skip_keeps_the_valid_contacts_and_reports_the_others() -> None:
    book = load_contacts(
        [{"to_number": ANN}, {"to_number": "+15551234567", "key": "k2"}, {"to_number": BOB, "key": ANN}],
        on_invalid="skip",
    )
    assert [(c.index, c.key) for c in book.contacts] == [(0, ANN)]
    first, second = book.rejected
    assert (first.index, first.where, first.key, first.field) == (1, "contacts[1]", "k2", "to_number")
    assert first.value == first.to_number == "+15551234567"
    assert "cannot exist" in first.reason
    assert (second.index, second.field, second.key) == (2, "key", ANN)
    assert "give each contact its own key" in second.reason
    assert book.total == 3


def test_a_rejected_record_does_not_claim_its_key() -> None:
    book = load_contacts(
        [{"to_number": "+10", "key": "a"}, {"to_number": ANN, "key": "a"}], on_invalid="skip"
    )
    assert [c.key for c in book.contacts] == ["a"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"on_invalid": "ignore"}, "on_invalid"),
        ({"max_contacts": 0}, "max_contacts"),
        ({"max_contacts": True}, "max_contacts"),
        ({"format": "xlsx"}, "format"),
    ],
)
def test_bad_arguments_name_their_field(kwargs: dict, field: str, tmp_path: Path) -> None:
    path = write_contacts_csv(tmp_path / "c.csv", 1)
    with pytest.raises(OneInboxInputError) as caught:
        load_contacts(path, **kwargs)
    assert caught.value.field == field


@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
def test_more_than_max_contacts_fails_whatever_on_invalid(on_invalid: Literal["fail", "skip"]) -> None:
    with pytest.raises(OneInboxInputError, match="more than max_contacts=2"):
        load_contacts(
            [{"to_number": n} for n in FICTIONAL_NUMBERS[:3]], max_contacts=2, on_invalid=on_invalid
        )


@pytest.mark.parametrize("source", [{"to_number": ANN}, b"+14155550100", 12])
def test_a_source_that_is_no_list_or_file_is_refused(source: object) -> None:
    with pytest.raises(OneInboxInputError, match="expected a list of contact dicts"):
        load_contacts(source)


def test_a_csv_file_gives_contacts_with_the_other_columns_as_variables(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "\ufeffTo_Number , key,first_name,note,timezone,metadata\n"
        f'{ANN},a,Ann,"likes, commas",,"{{""crm"": 7}}"\n'
        "\n"
        f"{BOB},,Bob,,America/Chicago,\n"
        f"{CID},c,Cid\n",
        encoding="utf-8",
    )
    book = load_contacts(path)
    assert book.contacts == (
        Contact(0, "a", ANN, {"first_name": "Ann", "note": "likes, commas"}, {"crm": 7}, None),
        Contact(1, BOB, BOB, {"first_name": "Bob", "note": ""}, {}, "America/Chicago"),
        Contact(2, "c", CID, {"first_name": "Cid", "note": ""}, {}, None),
    )
    assert book.source == str(path)


def test_csv_problems_carry_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(f"to_number,metadata\n{ANN},\n\n+10,\n{BOB},not json\n{CID},,extra\n", encoding="utf-8")
    book = load_contacts(path, on_invalid="skip")
    assert [c.key for c in book.contacts] == [ANN]
    assert [(r.where, r.field) for r in book.rejected] == [
        ("line 4", "to_number"),
        ("line 5", "metadata"),
        ("line 6", "contact"),
    ]
    assert "JSON object" in book.rejected[1].reason
    assert "has 3 values but the header names 2 columns" in book.rejected[2].reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("number,name\n+14155550100,Ann\n", "has no 'to_number' column"),
        ("to_number,x,X\n+14155550100,1,2\n", re.escape("names ['x'] more than once")),
        ("to_number,,x\n", "column 2 of"),
        ("", "is empty"),
        ('to_number\n"+14155550100\n', "not valid CSV"),
    ],
)
def test_a_csv_file_that_cannot_be_read_fails_at_once(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(OneInboxInputError, match=message):
        load_contacts(path, on_invalid="skip")


def test_a_json_lines_file_gives_contacts_and_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "contacts.ndjson"
    lines = [
        json.dumps({"to_number": ANN, "variables": {"n": 1}, "key": "a"}),
        "",
        "{not json",
        json.dumps([ANN]),
        json.dumps({"to_number": BOB, "timezone": "Asia/Tokyo"}),
    ]
    path.write_text("\r\n".join(lines) + "\n", encoding="utf-8")
    book = load_contacts(path, on_invalid="skip")
    assert book.contacts == (
        Contact(0, "a", ANN, {"n": 1}, {}, None),
        Contact(3, BOB, BOB, {}, {}, "Asia/Tokyo"),
    )
    assert [(r.index, r.where) for r in book.rejected] == [(1, "line 3"), (2, "line 4")]
    assert "not valid JSON" in book.rejected[0].reason
    assert "expected a JSON object" in book.rejected[1].reason


def test_the_format_comes_from_the_name_or_the_format_argument(tmp_path: Path) -> None:
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps({"to_number": ANN}) + "\n", encoding="utf-8")
    with pytest.raises(OneInboxInputError, match="one object per line"):
        load_contacts(path)
    assert [c.key for c in load_contacts(path, format="jsonl").contacts] == [ANN]


def test_a_missing_file_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(OneInboxInputError, match="cannot open"):
        load_contacts(str(tmp_path / "absent.csv"))


def test_a_file_that_is_not_utf8_fails_at_once(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"to_number,name\n+14155550100,Jos\xe9\n")
    with pytest.raises(OneInboxInputError, match="not UTF-8"):
        load_contacts(path)


def test_a_line_longer_than_the_bound_fails_without_reading_the_rest() -> None:
    path = CountingPath("contacts.jsonl", "x" * (MAX_LINE_CHARS * 4) + "\n")
    with pytest.raises(OneInboxInputError, match=f"longer than {MAX_LINE_CHARS} characters"):
        load_contacts(path)
    assert path.largest_read <= MAX_LINE_CHARS + 1


def test_a_quoted_field_spanning_many_lines_is_bounded_as_one_record(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    many_lines = "\n" * (MAX_LINE_CHARS // 2)
    path.write_text(f'to_number,note,other\n+14155550100,"{many_lines}","{many_lines}"\n', encoding="utf-8")
    with pytest.raises(OneInboxInputError, match=f"spans more than {MAX_LINE_CHARS} characters"):
        load_contacts(path)


def test_a_crlf_line_of_the_largest_length_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "contacts.jsonl"
    record = '{"to_number": "+14155550100"}'
    padded = record[:-1] + " " * (MAX_LINE_CHARS - len(record)) + "}"  # JSON allows the spaces
    assert len(padded) == MAX_LINE_CHARS
    path.write_bytes((padded + "\r\n").encode())
    assert [c.to_number for c in load_contacts(path).contacts] == ["+14155550100"]


def test_a_file_is_read_one_bounded_line_at_a_time(tmp_path: Path) -> None:
    text = write_contacts_csv(tmp_path / "c.csv", 2000).read_text(encoding="utf-8")
    path = CountingPath("contacts.csv", text)
    book = load_contacts(path)
    assert len(book.contacts) == 2000
    assert 0 < path.largest_read < 100  # one row at a time, never the file (about 90 KB)
    assert book.source == "memory://contacts.csv"


def test_an_object_storage_path_is_read_through_its_open(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    path = write_contacts_csv(tmp_path / "c.csv", 3)
    for source in (ObjectStoragePath(f"file://{path}"), f"file://{path}"):
        book = load_contacts(source)
        assert [c.key for c in book.contacts] == ["crm-0", "crm-1", "crm-2"]
        assert book.contacts[0].timezone == "America/Chicago"
        assert book.source == f"file://{path}"


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads Linux's /proc")
def test_a_hundred_thousand_contacts_load_in_bounded_memory(tmp_path: Path) -> None:
    path = write_contacts_csv(tmp_path / "big.csv", 100_000)
    before = _resident_bytes()
    book = load_contacts(path)  # about 5 s here, nearly all of it libphonenumber's checks
    grown = _resident_bytes() - before
    assert len(book.contacts) == 100_000
    assert book.contacts[-1] == Contact(
        99_999, "crm-99999", FICTIONAL_NUMBERS[99], {"first_name": "Name 99999", "plan": "gold"}, {}, None
    )
    assert book.contacts[50_000].timezone == "America/Chicago"
    # The contacts themselves (about 700 bytes each here), nothing in proportion to the file on top.
    assert grown / len(book.contacts) < 2_000, f"{grown / len(book.contacts):.0f} bytes per contact"
