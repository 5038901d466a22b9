"""Problems found in the inputs, and the checks that turn raw attribute tables into canonical columns.

Every check reports into a `Problems` collector instead of raising, so one run lists everything that
is wrong with a project; `load_project` raises a single `InputError` at the end.
"""
from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from healthreach._errors import InputError
from healthreach.tiers import KIND_LABELS, KINDS, SERVICE_LABELS, SERVICES, normalise_kind, normalise_service

logger = logging.getLogger(__name__)

PROBLEM_COLUMNS = ["file", "row", "id", "field", "severity", "problem", "suggestion"]

FACILITY_COLUMNS: tuple[str, ...] = (
    "fid", "name", "kind", "beds", "doctors", "nurses", "ambulances", "township", "services", "vid",
    "band_min", "radius_m",
)
RULE_COLUMNS = ("licensed_doctors", "staff", "gp", "grade")  # read when present: the planning rules' (docs/rules.md)
VILLAGE_COLUMNS: tuple[str, ...] = ("vid", "name", "population", "township", "setting", "elderly", "children")
BOUNDARY_COLUMNS: tuple[str, ...] = ("name", "level")
ROAD_COLUMNS: tuple[str, ...] = ("class", "speed_kmh", "oneway")

ROLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "facilities": FACILITY_COLUMNS + RULE_COLUMNS,
    "villages": VILLAGE_COLUMNS,
    "boundaries": BOUNDARY_COLUMNS,
    "roads": ROAD_COLUMNS,
}
ID_COLUMN: dict[str, str] = {"facilities": "fid", "villages": "vid"}

SETTING_LABELS: dict[str, str] = {
    "urban": "urban", "城镇": "urban", "城市": "urban", "城区": "urban",
    "rural": "rural", "农村": "rural", "乡村": "rural",
}
LEVEL_LABELS: dict[str, str] = {
    "county": "county", "区县": "county", "县": "county", "区": "county", "旗": "county", "县级": "county",
    "township": "township", "乡镇": "township", "乡": "township", "镇": "township", "街道": "township",
    "苏木": "township", "乡级": "township",
}
_SERVICE_SEPARATORS = (";", "；", "、", ",", "，")


@dataclass(frozen=True)
class Problem:
    """One problem in the inputs: where it is, what is wrong and what was expected."""

    file: str
    row: int | None
    id: str
    field: str
    severity: str
    problem: str
    suggestion: str

    def line(self) -> str:
        """One readable line: `file, row N (id X), field 'f': problem — suggestion`."""
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.id:
            where += f" (id {self.id})"
        if self.field:
            where += f", field '{self.field}'"
        text = f"{where}: {self.problem}"
        return f"{text} — {self.suggestion}" if self.suggestion else text


@dataclass
class Problems:
    """Collects problems across all layers of a project."""

    items: list[Problem] = field(default_factory=list)

    def error(self, file: str, problem: str, *, row: int | None = None, id: str = "", field: str = "",
              suggestion: str = "") -> None:
        """Record an error (the project cannot be analysed until it is fixed)."""
        self.items.append(Problem(file, row, id, field, "error", problem, suggestion))

    def warning(self, file: str, problem: str, *, row: int | None = None, id: str = "", field: str = "",
                suggestion: str = "") -> None:
        """Record a warning (the analysis can run, but the result may not be what was meant)."""
        self.items.append(Problem(file, row, id, field, "warning", problem, suggestion))

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity 'error'."""
        return [p for p in self.items if p.severity == "error"]

    def frame(self) -> pd.DataFrame:
        """The problems as a table with PROBLEM_COLUMNS (`row` is a nullable integer)."""
        table = pd.DataFrame([p.__dict__ for p in self.items], columns=PROBLEM_COLUMNS)
        table["row"] = pd.array(table["row"].tolist(), dtype="Int64")
        return table

    def raise_if_errors(self, source: str) -> None:
        """Log every warning, then raise one InputError listing every error (one line each)."""
        for p in self.items:
            if p.severity == "warning":
                logger.warning("%s", p.line())
        errors = self.errors
        if errors:
            lines = "\n".join(p.line() for p in errors)
            raise InputError(f"{source}: {len(errors)} problem(s) in the input:\n{lines}")


def is_missing(value: object) -> bool:
    """Whether a cell is empty: None, NaN, pandas NA or blank text."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def id_text(value: object) -> str:
    """An id as text ('' when missing); integral floats lose their '.0' (Excel stores 7 as 7.0)."""
    if is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_count(value: object) -> tuple[int | None, str]:
    """A whole non-negative count (persons, beds, vehicles) from a cell; (None, '') when empty.

    Returns (value, problem): problem is '' when the cell is fine, otherwise a description.
    """
    if is_missing(value):
        return None, ""
    if isinstance(value, bool):
        return None, f"{value!r} is not a number"
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        for sep in (",", "，", " ", "_"):
            text = text.replace(sep, "")
        try:
            number = float(text)
        except ValueError:
            return None, f"'{value}' is not a number"
    if not math.isfinite(number):
        return None, f"'{value}' is not a finite number"
    if not 0 <= number <= 1e9:  # more than a village or facility holds, and more than the tables can add up
        return None, f"'{value}' is negative" if number < 0 else f"'{value}' is too large (expected at most 1e9)"
    if not number.is_integer():
        return None, f"'{value}' is not a whole number"
    return int(number), ""


def apply_values(series: pd.Series, mapping: Mapping[object, object] | None) -> pd.Series:
    """Replace cell values by the project's `values:` mapping for this column (compared as text)."""
    if not mapping:
        return series
    lookup = {str(k).strip(): v for k, v in mapping.items()}

    def one(value: object) -> object:
        if is_missing(value):
            return value
        return lookup.get(str(value).strip(), value)

    return series.map(one).astype(object)


def suggest_kind(value: str) -> str:
    """A hint naming the known kind label closest to an unknown `kind` value."""
    contained = [label for label in KIND_LABELS if label in value]
    if contained:
        best: str | None = max(contained, key=len)
    else:
        close = difflib.get_close_matches(value, [*KINDS, *KIND_LABELS], n=1, cutoff=0.5)
        best = close[0] if close else None
    if best is None:
        return (f"expected one of {', '.join(KINDS)} or a Chinese label such as 乡镇卫生院; "
                "map it under values: kind:")
    canonical = normalise_kind(best)
    return f"closest known kind: '{best}' ({canonical}); map it under values: kind:"


def suggest_service(value: str) -> str:
    """A hint naming the known service closest to an unknown service token."""
    close = difflib.get_close_matches(value, [*SERVICES, *SERVICE_LABELS], n=1, cutoff=0.5)
    if close:
        return f"closest known service: '{close[0]}' ({normalise_service(close[0])}); map it under values: services:"
    return f"expected services separated by ';' or '、' from {', '.join(SERVICES)} or their Chinese labels"


@dataclass(frozen=True)
class Table:
    """A layer's attribute table with the project's column mapping resolved.

    `source[c]` is the file's column holding canonical column c (absent when the file has none);
    `broken` holds canonical columns whose mapping named a column the file lacks (already reported).
    """

    file: str
    data: pd.DataFrame
    source: dict[str, str]
    values: Mapping[str, Mapping[object, object]]
    broken: frozenset[str] = frozenset()

    def column(self, canonical: str) -> pd.Series | None:
        """The cells of a canonical column after value mapping, or None when the file lacks it."""
        name = self.source.get(canonical)
        if name is None:
            return None
        return apply_values(self.data[name].astype(object), self.values.get(canonical))

    def present(self) -> str:
        """The file's own column names, comma-separated (for messages)."""
        return ", ".join(str(c) for c in self.data.columns if c != "geometry")


def make_table(file: str, data: pd.DataFrame, role: str, columns: Mapping[str, str],
               values: Mapping[str, Mapping[object, object]], problems: Problems) -> Table:
    """Resolve each canonical column of `role` to a column of `data` (explicit mapping, else same name)."""
    present = [str(c) for c in data.columns if c != "geometry"]
    source: dict[str, str] = {}
    broken: set[str] = set()
    for canonical in ROLE_COLUMNS[role]:
        wanted = columns.get(canonical)
        if wanted is not None:
            if wanted in present:
                source[canonical] = wanted
            else:
                broken.add(canonical)
                problems.error(file, f"column '{wanted}' (mapped to '{canonical}') is not in the file",
                               field=canonical, suggestion=f"the file has columns: {', '.join(present)}")
        elif canonical in present:
            source[canonical] = canonical
    return Table(file, data, source, values, frozenset(broken))


def require_columns(table: Table, required: tuple[str, ...], problems: Problems) -> bool:
    """Report each required canonical column the table lacks; True when all are present."""
    ok = True
    for canonical in required:
        if canonical in table.source:
            continue
        ok = False
        if canonical not in table.broken:
            problems.error(table.file, f"required column '{canonical}' is missing", field=canonical,
                           suggestion=f"name it under columns: (the file has columns: {table.present()})")
    return ok


def row_ids(table: Table, role: str) -> list[str]:
    """The id (fid/vid) of each row as text, '' when missing or when the layer has no id column."""
    ids = table.column(ID_COLUMN[role]) if role in ID_COLUMN else None
    if ids is None:
        return [""] * len(table.data)
    return [id_text(v) for v in ids]


def check_ids(table: Table, role: str, ids: list[str], problems: Problems) -> None:
    """Report missing and duplicate ids (fid/vid)."""
    name = ID_COLUMN[role]
    if name not in table.source:
        return
    first: dict[str, int] = {}
    for i, ident in enumerate(ids, start=1):
        if not ident:
            problems.error(table.file, "id is missing", row=i, field=name,
                           suggestion=f"expected a unique, non-empty {name} in every row")
        elif ident in first:
            problems.error(table.file, f"id '{ident}' is a duplicate of row {first[ident]}", row=i, id=ident,
                           field=name, suggestion=f"expected every {name} to be unique")
        else:
            first[ident] = i


def counts(table: Table, canonical: str, ids: list[str], problems: Problems, *,
           required: bool = False) -> pd.Series:
    """A nullable Int64 column of whole non-negative counts; bad cells are reported and left <NA>."""
    cells = table.column(canonical)
    if cells is None:
        return pd.Series(pd.array([None] * len(table.data), dtype="Int64"))
    out: list[int | None] = []
    for i, value in enumerate(cells, start=1):
        number, problem = parse_count(value)
        if problem:
            problems.error(table.file, problem, row=i, id=ids[i - 1], field=canonical,
                           suggestion="expected a whole number >= 0")
        elif number is None and required:
            problems.error(table.file, "value is missing", row=i, id=ids[i - 1], field=canonical,
                           suggestion="expected a whole number >= 0")
        out.append(number)
    return pd.Series(pd.array(out, dtype="Int64"))


def texts(table: Table, canonical: str, fill: list[str] | None = None) -> pd.Series:
    """A text column ('' for empty cells, or the matching `fill` value when given)."""
    cells = table.column(canonical)
    n = len(table.data)
    if cells is None:
        return pd.Series(list(fill) if fill is not None else [""] * n, dtype=str)
    out = [id_text(v) for v in cells]
    if fill is not None:
        out = [v or f for v, f in zip(out, fill)]
    return pd.Series(out, dtype=str)


def labelled(table: Table, canonical: str, ids: list[str], problems: Problems,
             normalise: Callable[[str], str | None], suggest: Callable[[str], str], *,
             required: bool) -> list[str | None]:
    """Canonical values of a labelled column (kind, setting, level); unknown values are reported.

    Empty cells give None, and an error when `required`.
    """
    cells = table.column(canonical)
    out: list[str | None] = []
    for i, value in enumerate(cells if cells is not None else [], start=1):
        if is_missing(value):
            if required:
                problems.error(table.file, f"{canonical} is missing", row=i, id=ids[i - 1], field=canonical,
                               suggestion=suggest(""))
            out.append(None)
            continue
        text = str(value).strip()
        canonical_value = normalise(text)
        if canonical_value is None:
            problems.error(table.file, f"unknown {canonical} '{text}'", row=i, id=ids[i - 1], field=canonical,
                           suggestion=suggest(text))
        out.append(canonical_value)
    return out


def services(table: Table, ids: list[str], problems: Problems) -> pd.Series:
    """The `services` column as ';'-joined canonical ids ('' when none); unknown services reported."""
    if "services" not in table.source:
        return pd.Series([""] * len(table.data), dtype=str)
    # The values: mapping applies to each listed service, not to the whole cell.
    cells = table.data[table.source["services"]]
    mapping = {str(k).strip(): v for k, v in (table.values.get("services") or {}).items()}
    out = []
    for i, value in enumerate(cells, start=1):
        if is_missing(value):
            out.append("")
            continue
        text = str(value)
        for sep in _SERVICE_SEPARATORS[1:]:
            text = text.replace(sep, _SERVICE_SEPARATORS[0])
        found: list[str] = []
        for token in (t.strip() for t in text.split(_SERVICE_SEPARATORS[0])):
            if not token:
                continue
            token = str(mapping.get(token, token))
            service = normalise_service(token)
            if service is None:
                problems.error(table.file, f"unknown service '{token}'", row=i, id=ids[i - 1], field="services",
                               suggestion=suggest_service(token))
            elif service not in found:
                found.append(service)
        out.append(";".join(found))
    return pd.Series(out, dtype=str)


def normalise_facilities(table: Table, problems: Problems) -> pd.DataFrame | None:
    """Canonical facility attributes (FACILITY_COLUMNS) in input order, or None when unusable."""
    if not require_columns(table, ("fid", "name", "kind"), problems):
        return None
    ids = row_ids(table, "facilities")
    check_ids(table, "facilities", ids, problems)
    kinds = labelled(table, "kind", ids, problems, normalise_kind, suggest_kind, required=True)
    out = pd.DataFrame({
        "fid": pd.Series(ids, dtype=str),
        "name": _names(table, ids, problems),
        "kind": pd.Series([k or "" for k in kinds], dtype=str),
    })
    for column in ("beds", "doctors", "nurses", "ambulances", *[c for c in RULE_COLUMNS if c in table.source]):
        out[column] = texts(table, column) if column == "grade" else counts(table, column, ids, problems)
    out["township"] = texts(table, "township")
    out["services"] = services(table, ids, problems)
    out["vid"] = texts(table, "vid")
    out["band_min"] = _bands(table, ids, problems)
    out["radius_m"] = _positive(table, "radius_m", ids, problems)
    _warn_no_township(table, problems)
    return out


def _numbers(text: str) -> list[float] | None:
    try:
        return [float(t) for t in re.split(r"[;,、\s]+", text.strip()) if t]
    except ValueError:
        return None


def _bands(table: Table, ids: list[str], problems: Problems) -> pd.Series:
    """A facility's own catchment bands (minutes, ';'-joined, ascending; '' = the project's bands)."""
    out = []
    for i, text in enumerate(texts(table, "band_min"), start=1):
        values = _numbers(text) if text else []
        if values is None or any(v <= 0 for v in values):
            problems.error(table.file, f"bad band '{text}'", row=i, id=ids[i - 1], field="band_min",
                           suggestion="expected minutes > 0, several separated by ';' (e.g. 15;30)")
            values = []
        out.append(";".join(f"{v:g}" for v in sorted(set(values))))
    return pd.Series(out, dtype=str)


def _positive(table: Table, canonical: str, ids: list[str], problems: Problems) -> pd.Series:
    """A nullable Float64 column of numbers > 0; bad cells are reported and left <NA>."""
    out: list[float | None] = []
    for i, text in enumerate(texts(table, canonical), start=1):
        values = _numbers(text) if text else []
        if values is None or len(values) > 1 or any(v <= 0 for v in values):
            problems.error(table.file, f"bad value '{text}'", row=i, id=ids[i - 1], field=canonical,
                           suggestion="expected one number > 0")
            values = []
        out.append(values[0] if values else None)
    return pd.Series(pd.array(out, dtype="Float64"))


def normalise_villages(table: Table, problems: Problems) -> pd.DataFrame | None:
    """Canonical village attributes (VILLAGE_COLUMNS) in input order, or None when unusable."""
    if not require_columns(table, ("vid", "name", "population"), problems):
        return None
    ids = row_ids(table, "villages")
    check_ids(table, "villages", ids, problems)
    population = counts(table, "population", ids, problems, required=True)
    for i, value in enumerate(population, start=1):
        if value is not pd.NA and value == 0:
            problems.warning(table.file, "population is 0", row=i, id=ids[i - 1], field="population",
                             suggestion="check the figure; the village counts for nothing in coverage shares")
    out = pd.DataFrame({
        "vid": pd.Series(ids, dtype=str),
        "name": _names(table, ids, problems),
        "population": population,
        "township": texts(table, "township"),
        "setting": _settings(table, ids, problems),
        "elderly": counts(table, "elderly", ids, problems),
        "children": counts(table, "children", ids, problems),
    })
    _warn_no_township(table, problems)
    return out


def normalise_boundaries(table: Table, problems: Problems) -> pd.DataFrame | None:
    """Canonical boundary attributes (name, level) in input order, or None when unusable."""
    if not require_columns(table, ("name",), problems):
        return None
    n = len(table.data)
    ids = [""] * n
    if "level" in table.source:
        levels = labelled(table, "level", ids, problems, LEVEL_LABELS.get,
                          lambda v: "expected county or township (or 区县 / 乡镇); map it under values: level:",
                          required=True)
        level = [lv or "" for lv in levels]
    else:
        guess = "county" if n == 1 else "township"
        problems.warning(table.file, f"no 'level' column: taken as '{guess}'", field="level",
                         suggestion="name the column under columns: level: to state county or township")
        level = [guess] * n
    return pd.DataFrame({"name": texts(table, "name"), "level": pd.Series(level, dtype=str)})


def _names(table: Table, ids: list[str], problems: Problems) -> pd.Series:
    names = texts(table, "name")
    for i, name in enumerate(names, start=1):
        if not name:
            problems.warning(table.file, "name is empty: the id is used instead", row=i, id=ids[i - 1],
                             field="name", suggestion="expected a name for maps and reports")
    return pd.Series([n or i for n, i in zip(names, ids)], dtype=str)


def _settings(table: Table, ids: list[str], problems: Problems) -> pd.Series:
    n = len(table.data)
    if "setting" not in table.source:
        problems.warning(table.file, "no 'setting' column: every village taken as 'rural'", field="setting",
                         suggestion="name the column under columns: setting: (values urban / rural)")
        return pd.Series(["rural"] * n, dtype=str)
    settings = labelled(table, "setting", ids, problems, SETTING_LABELS.get,
                        lambda v: "expected urban or rural (or 城镇 / 农村); map it under values: setting:",
                        required=False)
    raw = table.column("setting")
    out = []
    for i, value in enumerate(settings, start=1):
        if value is None and is_missing(raw.iloc[i - 1]):  # type: ignore[union-attr]
            problems.warning(table.file, "setting is empty: taken as 'rural'", row=i, id=ids[i - 1],
                             field="setting", suggestion="expected urban or rural")
        out.append(value or "rural")
    return pd.Series(out, dtype=str)


def _warn_no_township(table: Table, problems: Problems) -> None:
    if "township" not in table.source:
        problems.warning(table.file, "no 'township' column: township summaries will be empty", field="township",
                         suggestion="name the column under columns: township:")
