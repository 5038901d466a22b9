"""Hostile text on its way into the output files, checked on the writers directly (read back with the
csv module and openpyxl, not with our own readers)."""
from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from healthreach.commands.outfolder import folder_name
from healthreach.maps.exports import write_csv, write_xlsx
from healthreach.maps.outputs import with_run_id

TEXTS = ["=1+1", "+SUM(A1)", "-2+3", "@A1", "\t=1", "\r=1", "plain", "中文=1", " =1"]


def _table() -> pd.DataFrame:
    return pd.DataFrame({"name": TEXTS, "minutes": [-3.5, 2.0, -0.0, 1e6, -7.0, 8.0, 9.0, 10.0, 11.0],
                         "count": list(range(-4, 5))})


def test_csv_prefixes_formula_text_and_keeps_numbers(tmp_path: Path) -> None:
    path = write_csv(_table(), tmp_path / "t.csv")
    with open(path, encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream))
    names = [row[0] for row in rows[1:]]
    assert names == ["'" + t if t[0] in "=+-@\t\r" else t for t in TEXTS]
    assert [float(row[1]) for row in rows[1:]] == [-3.5, 2.0, -0.0, 1e6, -7.0, 8.0, 9.0, 10.0, 11.0]
    assert [int(row[2]) for row in rows[1:]] == list(range(-4, 5))


def test_xlsx_stores_formula_text_as_text(tmp_path: Path) -> None:
    path = write_xlsx({"t": _table(), "=sheet": pd.DataFrame({"=col": ["=x"]})}, tmp_path / "t.xlsx", run_id="R-1")
    workbook = openpyxl.load_workbook(path)
    cells = [c for sheet in workbook for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    sheet = workbook["t"]
    first = sheet.max_row - len(TEXTS) + 1  # below one or two header rows
    rows = range(first, sheet.max_row + 1)
    # The text itself, shown as text (XML reads a carriage return back as a line feed).
    assert [sheet.cell(row=r, column=1).value for r in rows] == [t.replace("\r", "\n") for t in TEXTS]
    assert [sheet.cell(row=r, column=1).quotePrefix for r in rows] == [t[0] in "=+-@\t\r" for t in TEXTS]
    assert [sheet.cell(row=r, column=2).value for r in rows][:3] == [-3.5, 2.0, 0.0]
    assert all(sheet.cell(row=r, column=3).data_type == "n" for r in rows)
    assert workbook.properties.identifier == "R-1"


def test_run_id_meta_tag_goes_into_the_head() -> None:
    page = with_run_id("<!DOCTYPE html>\n<html>\n<head lang='zh'>\n<title>x</title></head><body></body></html>", 'a"<b')
    assert page.index('<meta name="healthreach-run-id" content="a&quot;&lt;b">') < page.index("<title>")


@pytest.mark.parametrize("name, expected", [
    ("../../x", "_.._x"), ("/etc/passwd", "_etc_passwd"), ("..", "project"), ("a\\b:c*?", "a_b_c__"),
    ("CON", "project_CON"), ("县\n名", "县_名"), ("黄梁县（合成样例）", "黄梁县（合成样例）")])
def test_project_names_become_one_safe_folder_name(name: str, expected: str) -> None:
    assert folder_name(name) == expected
    assert folder_name("县" * 200).encode() == ("县" * 40).encode()
