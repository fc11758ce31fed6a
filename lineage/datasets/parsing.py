"""The parsing toolkit every file loader shares: read and decode a file, split it into rows and
columns, parse the columns (a fast path, and a slow one that finds the first bad line), map raw
ids to a vocabulary, and drop unknown ids and duplicate events while counting them.

Every error is a `DataError` whose message names the file, the 1-based physical line when there
is one, and the expected format. Blank lines carry no data and are skipped.
"""
from __future__ import annotations

import codecs
import csv
import io
import stat
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from lineage.data import DataError, LoadReport

def require_file(path: Path, expected: str) -> None:
    """Raise a DataError unless `path` is a regular file (never opens it: opening a pipe blocks).

    A pipe such as bash's `<(command)` (/dev/fd/63) is gone once read (a checkpoint that names it
    could never reload its data), so it is refused with the advice to save it to a file first."""
    try:
        mode = path.stat().st_mode  # follows links: /dev/fd/63 -> the pipe itself
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(path, f"file not found; expected {expected}") from None
    except OSError as error:
        raise DataError(path, f"cannot read it ({error.strerror or error}); expected {expected}") from None
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise DataError(path, f"is a directory, not a file; expected {expected}")
    kind = "a pipe (FIFO), e.g. from <(command)" if stat.S_ISFIFO(mode) else "a device or socket"
    raise DataError(path, f"is not a regular file but {kind}; save it to a file first "
                          f"(command > log.csv) and pass that file")


def decode(path: Path, data: bytes, encoding: str = "utf-8", fallback: str | None = None,
            hint: str = "re-save it as UTF-8, or give its encoding: --encoding latin-1 on the command line, "
                        "encoding='latin-1' to load_csv") -> str:
    """Decode bytes; with `fallback` (e.g. latin-1) use it when `encoding` fails, else raise a
    DataError naming the line and byte offset of the first undecodable byte."""
    if fallback is None:
        _refuse_wide_encoding(path, data, encoding)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        if fallback is not None:
            return data.decode(fallback)
        line = data.count(b"\n", 0, error.start) + 1
        line_start = data.rfind(b"\n", 0, error.start) + 1
        name = "UTF-8" if encoding.lower().replace("-", "").replace("_", "") == "utf8" else encoding
        raise DataError(
            path,
            f"byte 0x{data[error.start]:02x} at byte offset {error.start} (byte {error.start - line_start + 1} "
            f"of the line) is not valid {name}; expected a {name} text file ({hint})",
            line=line) from None
    if text.startswith("\ufeff"):  # a byte-order mark from spreadsheet exports
        text = text[1:]
    return text


def _refuse_wide_encoding(path: Path, data: bytes, encoding: str) -> None:
    """Refuse UTF-16 / UTF-32 for a file without a single zero byte: in those encodings every
    comma, digit and line end holds a 0x00 byte, so such a file is not in them (usually UTF-8).

    Decoding it anyway "succeeds" into one line of CJK-looking characters, and the error that
    follows would quote kilobytes of them."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"unknown text encoding {encoding!r}; expected e.g. utf-8, latin-1, cp1252") from None
    if name.startswith(("utf-16", "utf-32")) and data and b"\x00" not in data[:65536]:
        raise DataError(path, f"not {name} text: no 0x00 byte from byte offset 0 to {min(len(data), 65536):,}, "
                              f"which every comma and line end in {name} holds; it is probably UTF-8: "
                              f"drop --encoding {name} (encoding= for load_csv)")


def read_text(path: Path, expected: str, encoding: str = "utf-8", fallback: str | None = None,
               **hint) -> str:
    require_file(path, expected)
    text = decode(path, path.read_bytes(), encoding, fallback, **hint)
    if not text.strip():
        raise DataError(path, f"file is empty; expected {expected}")
    return text


def split_lines(path: Path, text: str, sep: str, n_fields: int, expected: str
                 ) -> tuple[list[list[str]], list[int]]:
    """Split a separator-delimited file without quoting (the MovieLens 100K format) into columns.

    Returns the columns (n_fields lists of str) and the 1-based physical line number of each
    row; blank lines are skipped. Only "\\n" ends a line (so a latin-1 byte 0x85 is a character,
    not a line break). Fast: one split of the whole text, no list per line."""
    raw = text.replace("\r\n", "\n").split("\n")
    while raw and not raw[-1].strip():  # blank trailing lines
        raw.pop()
    counts = [line.count(sep) for line in raw]
    lines: Sequence[int] = range(1, len(raw) + 1)
    if counts.count(n_fields - 1) != len(counts):  # blank lines, or a bad line to report
        kept = []
        for number, (line, count) in enumerate(zip(raw, counts), start=1):
            if not line.strip():
                continue
            if count != n_fields - 1:
                raise DataError(path, f"expected {n_fields} fields, got {count + 1}; format: {expected}",
                                line=number)
            kept.append(number)
        raw = [raw[number - 1] for number in kept]
        lines = kept
    flat = sep.join(raw).split(sep) if raw else []
    return [flat[k::n_fields] for k in range(n_fields)], list(lines)


def csv_rows(path: Path, text: str, sep: str, required: Sequence[str], expected: str
              ) -> tuple[list[str], list[list[str]], list[int]]:
    """Parse a CSV text with a header row (quoted fields allowed).

    Returns (header, rows, 1-based physical line of each row). Checks that every column in
    `required` is in the header and that every row has as many fields as the header."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next(reader)
        while not header or (len(header) == 1 and not header[0].strip()):
            header = next(reader)
    except StopIteration:
        raise DataError(path, f"file is empty; expected a header row and {expected}") from None
    except csv.Error as error:
        raise DataError(path, f"cannot parse the header ({error}); expected {expected}",
                        line=reader.line_num) from None
    header_line = reader.line_num
    header = [name.strip() for name in header]
    seen = set()
    for name in header:
        if name in seen:
            raise DataError(path, f"column {shorten(name)!r} appears twice in the header "
                            f"{shorten(sep_join(header, sep))!r}; expected {expected}", line=header_line)
        seen.add(name)
    missing = [name for name in required if name not in seen]
    if missing:
        raise _missing_columns(path, header, sep, missing, expected, header_line)
    rows, lines = [], []
    n_fields = len(header)
    start = reader.line_num + 1
    try:
        for row in reader:
            if len(row) != n_fields:
                if not row or (len(row) == 1 and not row[0].strip()):
                    start = reader.line_num + 1
                    continue  # blank line
                spans = ""
                if reader.line_num > start:  # a quoted field ran over line ends
                    spans = (f"; this record runs from line {start} to line {reader.line_num}: "
                             f"is a double quote left open?")
                raise DataError(path, f"expected {n_fields} fields (the header has {n_fields}: "
                                f"{shorten(sep_join(header, sep))!r}), got {len(row)}{spans}", line=start)
            rows.append(row)
            lines.append(start)  # a record is numbered by the line it starts on
            start = reader.line_num + 1
    except csv.Error as error:
        raise DataError(path, f"cannot parse the record ({error}); expected {expected}", line=start) from None
    return header, rows, lines


def _missing_columns(path: Path, header: list[str], sep: str, missing: list[str], expected: str,
                     line: int) -> DataError:
    """The error for required columns missing from the header (shown cut to a short line)."""
    names = ", ".join(repr(name) for name in missing)
    wide = "; it holds NUL bytes: is the file UTF-16 (--encoding utf-16)?" if "\x00" in "".join(header) else ""
    return DataError(path, f"missing column{'s' if len(missing) > 1 else ''} {names}; header found: "
                           f"{shorten(sep_join(header, sep))!r}{wide}; expected {expected}", line=line)


def sep_join(fields: Iterable[str], sep: str) -> str:
    return sep.join(fields)


def shorten(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters (with the full length), so an error stays one short line."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def column(rows: list[list[str]], index: int) -> list[str]:
    return [row[index] for row in rows]


# ---- parsing columns (fast path with a slow path that finds the bad line) -------------------

def parse(path: Path, values: list[str], lines: list[int], convert, what: str, expected: str) -> list:
    try:
        return list(map(convert, values))
    except (ValueError, TypeError, OverflowError):
        pass
    for value, line in zip(values, lines):
        try:
            convert(value)
        except (ValueError, TypeError, OverflowError):
            raise DataError(path, f"{what} {value!r} is not {expected}", line=line) from None
    raise AssertionError("unreachable")  # pragma: no cover


INT64_MIN, INT64_MAX = -2**63, 2**63 - 1


def ints(path, values, lines, what, fmt) -> np.ndarray:
    """Parse integers that fit in int64 (the id formats that are numeric); else a DataError naming
    the line."""
    parsed = parse(path, values, lines, int, what, f"an integer; expected {fmt}")
    for value, line in zip(parsed, lines):
        if not INT64_MIN <= value <= INT64_MAX:
            raise DataError(path, f"{what} {value} does not fit in a 64-bit integer (from {INT64_MIN} to "
                            f"{INT64_MAX}); expected {fmt}", line=line)
    return np.array(parsed, dtype=np.int64)


def floats(path, values, lines, what, fmt, allow_empty: bool = False) -> np.ndarray:
    """Parse numbers; NaN and infinity are refused (with allow_empty, an empty field gives NaN)."""
    def empty_as_nan(text: str) -> float:
        return float(text) if text.strip() else float("nan")

    convert = empty_as_nan if allow_empty else float

    array = np.array(parse(path, values, lines, convert, what, f"a number; expected {fmt}"),
                     dtype=np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        for k in np.flatnonzero(bad).tolist():
            if not (allow_empty and not values[k].strip()):
                raise DataError(path, f"{what} {values[k]!r} is not a finite number; expected {fmt}",
                                line=lines[k])
    return array


def strings(path, values, lines, what, fmt) -> list[str]:
    """Ids, stripped of spaces; an empty id or one holding a NUL byte is a DataError naming the line
    (numpy str arrays drop trailing NULs, so "a\\x00" would silently become the id "a")."""
    out = [value.strip() for value in values]
    for value, line in zip(out, lines):
        if not value:
            raise DataError(path, f"empty {what}; expected {fmt}", line=line)
        if "\x00" in value:
            raise DataError(path, f"{what} {shorten(value, 40)!r} holds a NUL byte (0x00), which would merge it "
                                  f"with another id; remove the NUL bytes from the file", line=line)
    return out


def unique_ids(path, ids: np.ndarray, lines: list[int], what: str) -> None:
    """Raise if an id is defined twice in a users/items file (names both lines)."""
    order = np.argsort(ids, kind="stable")
    same = ids[order][1:] == ids[order][:-1]
    if same.any():
        k = int(np.flatnonzero(same)[0])
        first, second = int(order[k]), int(order[k + 1])
        raise DataError(path, f"{what} {ids[second]!s} is defined twice (first on line {lines[first]}); "
                        f"expected one row per {what.split()[0]}", line=lines[second])


def index_sorted(vocabulary: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each key in a sorted vocabulary, and a mask of the keys found."""
    if len(vocabulary) == 0:
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    position = np.searchsorted(vocabulary, keys)
    position = np.minimum(position, len(vocabulary) - 1)
    found = vocabulary[position] == keys
    return position.astype(np.int64), found


def duplicates(users: np.ndarray, items: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Mask of events that repeat an earlier (user, item, time); the first occurrence is kept.

    `times` may be any third key: `finish` passes the values for a log without times."""
    n = len(users)
    if n < 2:
        return np.zeros(n, dtype=bool)
    order = np.lexsort((np.arange(n), times, items, users))
    u, i, t = users[order], items[order], times[order]
    same = (u[1:] == u[:-1]) & (i[1:] == i[:-1]) & (t[1:] == t[:-1])
    mask = np.zeros(n, dtype=bool)
    mask[order[1:][same]] = True
    return mask


def finish(report: LoadReport, users, items, times, values, user_known, item_known, invalid=(),
           timed: bool = True):
    """Drop invalid rows, unknown ids and duplicates (counting each dropped row once, under the
    first reason that applies) and return the kept arrays.

    invalid: (reason, mask) pairs checked first, in order, e.g. ("negative timestamp", times < 0).
    Duplicates ("duplicate events"): with `timed`, a row repeating an earlier row's (user, item,
    time), whatever its value; without (a log with no time column, `times` only the file order), a
    row repeating an earlier row's (user, item, value) exactly. The first occurrence is kept."""
    valid = np.ones(len(users), dtype=bool)
    for reason, mask in invalid:
        report.add(reason, int((valid & mask).sum()))
        valid &= ~mask
    if not valid.all():
        users, items, times, values = users[valid], items[valid], times[valid], values[valid]
        user_known, item_known = user_known[valid], item_known[valid]
    keep = user_known.copy()
    report.add("unknown user id", int((~user_known).sum()))
    report.add("unknown item id", int((keep & ~item_known).sum()))
    keep &= item_known
    if not keep.all():
        users, items, times, values = users[keep], items[keep], times[keep], values[keep]
    dup = duplicates(users, items, times if timed else values)
    report.add("duplicate events", int(dup.sum()))
    if dup.any():
        users, items, times, values = users[~dup], items[~dup], times[~dup], values[~dup]
    return users, items, times, values



def lookup(vocabulary: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each key in an unsorted vocabulary (file order), and a mask of the keys found."""
    order = np.argsort(vocabulary, kind="stable")
    position, found = index_sorted(vocabulary[order], keys)
    return (order[position] if len(order) else position).astype(np.int64), found



def sep_name(sep: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "'|'"}.get(sep, repr(sep))

