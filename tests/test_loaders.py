"""Loaders: MovieLens 100K, MovieLens latest and generic CSV, on small fixtures written here.

Only `test_real_ml100k` reads real data (marker `ml100k`; TT_ML100K_DIR or ../shared/datasets/ml-100k,
skipped when absent). Every bad-input test checks that the message names the file, the line
where there is one, and a hint of the expected format.
"""
import math
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from lineage.data import DataError, Interactions
from lineage.datasets import (
    ML100K_GENRES,
    load_csv,
    load_dataset,
    load_movielens_100k,
    load_movielens_latest,
    title_words,
    title_year,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


# ---- fixtures -------------------------------------------------------------------------------

def flags(*names):
    """The 19 u.item genre flags with the named genres set."""
    return "|".join("1" if g in names else "0" for g in ML100K_GENRES)


U_ITEM = [  # item 10 first: the vocabulary must still be in numeric order 1, 2, 3, 10
    f"10|Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)|01-Jan-1995||http://x|{flags('Drama')}",
    f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags('Animation', 'Comedy')}",
    f"2|Things, The (1982)|01-Jan-1982||http://x|{flags('Horror', 'Sci-Fi')}",
    f"3|unknown|01-Jan-1996||http://x|{flags('unknown')}",
]
U_USER = [
    "2|53|F|other|94043",
    "1|24|M|technician|85711",
    "3|23|M|writer|T8H1N",
]
U_DATA = [
    "1\t1\t5\t881250949",
    "2\t10\t3\t881250950",
    "1\t2\t4\t881250951",
    "3\t1\t1\t881250952",
]


def write(path: Path, lines, newline="\n", encoding="utf-8", trailing=True) -> Path:
    text = newline.join(lines) + (newline if trailing else "")
    path.write_bytes(text.encode(encoding))
    return path


def ml100k(tmp_path, data=U_DATA, item=U_ITEM, user=U_USER, **kwargs) -> Path:
    directory = tmp_path / "ml-100k"
    directory.mkdir(exist_ok=True)
    write(directory / "u.data", data, **kwargs)
    write(directory / "u.item", item, **kwargs)
    write(directory / "u.user", user, **kwargs)
    return directory


MOVIES = [
    "movieId,title,genres",
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy",
    '2,"Lock, Stock and Two Smoking Barrels (1998)",Comedy|Crime|Thriller',
    "5,Hyena Road,(no genres listed)",
    '3,"Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)",Action|Western',
]
RATINGS = [
    "userId,movieId,rating,timestamp",
    "7,1,4.0,964982703",
    "3,2,3.5,964982224",
    "7,3,5.0,964983815",
]
TAGS = [
    "userId,movieId,tag,timestamp",
    "7,1,Pixar,1445714994",
    "3,1,pixar,1445714995",
    "3,1,Fun,1445714996",
    "7,2,dark comedy,1445714997",
]


def ml_latest(tmp_path, ratings=RATINGS, movies=MOVIES, tags=TAGS, **kwargs) -> Path:
    directory = tmp_path / "ml-latest-small"
    directory.mkdir(exist_ok=True)
    write(directory / "ratings.csv", ratings, **kwargs)
    write(directory / "movies.csv", movies, **kwargs)
    if tags is not None:
        write(directory / "tags.csv", tags, **kwargs)
    return directory


def raises(match_parts, call, *args, **kwargs) -> DataError:
    """Call and check that a DataError is raised whose message contains every part."""
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    for part in match_parts:
        assert part in message, f"{part!r} not in {message!r}"
    return info.value


# ---- titles ---------------------------------------------------------------------------------

def test_title_year_and_words():
    assert title_year("Toy Story (1995)") == ("Toy Story", 1995.0)
    assert title_year("Heidi Fleiss: Hollywood Madam (1995) ") == ("Heidi Fleiss: Hollywood Madam", 1995.0)
    assert title_year("Land Before Time III (1995) (V)") == ("Land Before Time III (V)", 1995.0)
    assert title_year("Fawlty Towers (1975-1979)") == ("Fawlty Towers", 1975.0)
    title, year = title_year("Hyena Road")
    assert title == "Hyena Road" and math.isnan(year)
    assert title_words("Schindler's List") == ("schindler's", "list")
    assert title_words("Amélie: Le Fabuleux") == ("amélie", "le", "fabuleux")


# ---- MovieLens 100K -------------------------------------------------------------------------

def test_ml100k_happy_path(tmp_path):
    data = load_movielens_100k(ml100k(tmp_path))
    assert isinstance(data, Interactions) and data.name == "ml-100k"
    assert data.item_ids.tolist() == ["1", "2", "3", "10"]  # numeric order, unrated item 3 kept
    assert data.user_ids.tolist() == ["1", "2", "3"]
    assert data.item_ids[data.items].tolist() == ["1", "10", "2", "1"]  # events in file order
    assert data.user_ids[data.users].tolist() == ["1", "2", "1", "3"]
    assert data.values.tolist() == [5.0, 3.0, 4.0, 1.0]
    assert data.times.tolist() == [881250949.0, 881250950.0, 881250951.0, 881250952.0]
    assert data.report.rows_read == 4 and data.report.counts == {}
    assert data.report.summary() == "read 4 rows, all kept"

    f = data.item_features
    assert f["title"].tolist() == ["Toy Story", "Things, The", "unknown",
                                   "Shanghai Triad (Yao a yao yao dao waipo qiao)"]
    assert f["year"][:2].tolist() == [1995.0, 1982.0]
    assert f["year"][2] == 1996.0  # no year in the title: taken from the release date
    assert f["genres"] == [("Animation", "Comedy"), ("Horror", "Sci-Fi"), ("unknown",), ("Drama",)]
    assert f["title_words"][0] == ("toy", "story")
    assert f["title_words"][1] == ("things", "the")
    assert len(f["title_words"]) == 4

    u = data.user_features
    assert u["age"].dtype == np.float64 and u["age"].tolist() == [24.0, 53.0, 23.0]
    assert u["gender"].tolist() == ["M", "F", "M"]
    assert u["occupation"].tolist() == ["technician", "other", "writer"]
    assert u["zip"].tolist() == ["85711", "94043", "T8H1N"]


def test_ml100k_year_missing_everywhere_is_nan(tmp_path):
    items = U_ITEM[:3] + [f"3|unknown||||{flags('unknown')}"]
    data = load_movielens_100k(ml100k(tmp_path, item=items))
    assert math.isnan(data.item_features["year"][2])


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_ml100k_accented_title(tmp_path, encoding):
    items = U_ITEM[:3] + [f"3|Café (1995)|01-Jan-1995||http://x|{flags('Comedy')}"]
    directory = ml100k(tmp_path)
    write(directory / "u.item", items, encoding=encoding)
    if encoding == "latin-1":
        assert "Café".encode("latin-1") in (directory / "u.item").read_bytes()
    data = load_movielens_100k(directory)
    assert data.item_features["title"][2] == "Café"
    assert data.item_features["title_words"][2] == ("café",)


def test_ml100k_crlf_and_blank_trailing_lines(tmp_path):
    directory = ml100k(tmp_path, newline="\r\n")
    (directory / "u.data").write_bytes((directory / "u.data").read_bytes() + b"\r\n\r\n  \n")
    data = load_movielens_100k(directory)
    assert len(data) == 4 and data.report.rows_read == 4
    assert data.user_features["zip"].tolist() == ["85711", "94043", "T8H1N"]
    assert data.item_features["genres"][3] == ("Drama",)  # last field has no stray "\r"


def test_ml100k_custom_u_genre(tmp_path):
    directory = ml100k(tmp_path)
    write(directory / "u.genre", ["Fun|0", "Sad|1", ""])
    write(directory / "u.item", ["1|A (2000)|||x|1|0", "2|B (2001)|||x|1|1", "3|C|||x|0|0", "10|D|||x|0|1"])
    data = load_movielens_100k(directory)
    assert data.item_features["genres"] == [("Fun",), ("Fun", "Sad"), (), ("Sad",)]


def test_ml100k_duplicates_and_unknown_ids_are_counted(tmp_path):
    rows = U_DATA + [
        "1\t1\t5\t881250949",  # duplicate of line 1
        "1\t1\t2\t881250949",  # same event, other rating: also a duplicate (first kept)
        "99\t1\t3\t881250960",  # unknown user
        "1\t77\t3\t881250961",  # unknown item
        "99\t77\t3\t881250962",  # both unknown: counted once, as unknown user
        "1\t1\t5\t881250999",  # same pair, later time: kept
    ]
    data = load_movielens_100k(ml100k(tmp_path, data=rows))
    assert data.report.rows_read == 10
    assert data.report.counts == {"duplicate events": 2, "unknown user id": 2, "unknown item id": 1}
    assert len(data) == 5 == data.report.rows_read - sum(data.report.counts.values())
    assert data.values.tolist() == [5.0, 3.0, 4.0, 1.0, 5.0]
    assert "2 duplicate events" in data.report.summary()


def test_ml100k_letter_in_user_id_on_line_3(tmp_path):
    rows = list(U_DATA)
    rows[2] = "1x\t2\t4\t881250951"
    error = raises(["u.data", "line 3", "'1x'", "integer", "tab-separated"],
                   load_movielens_100k, ml100k(tmp_path, data=rows))
    assert error.line == 3 and error.path.endswith("u.data")


@pytest.mark.parametrize("line, bad, parts", [
    (2, "2\t10\t881250950", ["expected 4 fields, got 3", "user id, item id, rating, unix timestamp"]),
    (4, "3\t1\t1\t881250952\textra", ["expected 4 fields, got 5"]),
    (1, "1\t1\tfive\t881250949", ["rating 'five' is not a number", "tab-separated"]),
    (3, "1\t2\t4\tyesterday", ["timestamp 'yesterday' is not a number", "unix timestamp"]),
    (2, "2\t1.5\t3\t881250950", ["item id '1.5' is not an integer"]),
    (2, "2\t10\tnan\t881250950", ["rating 'nan' is not a finite number"]),
])
def test_ml100k_bad_u_data_lines(tmp_path, line, bad, parts):
    rows = list(U_DATA)
    rows[line - 1] = bad
    raises(["u.data", f"line {line}"] + parts, load_movielens_100k, ml100k(tmp_path, data=rows))


def test_ml100k_bad_line_after_a_blank_line_keeps_physical_numbering(tmp_path):
    rows = [U_DATA[0], "", U_DATA[1], "x\t1\t1\t1"]
    raises(["u.data", "line 4"], load_movielens_100k, ml100k(tmp_path, data=rows))


def test_ml100k_bad_u_item(tmp_path):
    items = list(U_ITEM)
    items[1] = "1|Toy Story (1995)|01-Jan-1995||http://x|0|1"
    raises(["u.item", "line 2", "expected 24 fields, got 7", "19 genre flags"],
           load_movielens_100k, ml100k(tmp_path, item=items))
    items = list(U_ITEM)
    items[2] = items[2].replace("2|", "two|", 1)
    raises(["u.item", "line 3", "item id 'two' is not an integer", "item id|title"],
           load_movielens_100k, ml100k(tmp_path, item=items))
    items = list(U_ITEM)
    items[0] = items[0][:-1] + "y"
    raises(["u.item", "line 1", "genre flag 'y'", "Western", "0 or 1"],
           load_movielens_100k, ml100k(tmp_path, item=items))
    items = U_ITEM + [U_ITEM[1]]
    raises(["u.item", "line 5", "item id 1 is defined twice (first on line 2)"],
           load_movielens_100k, ml100k(tmp_path, item=items))


def test_ml100k_bad_u_user(tmp_path):
    users = list(U_USER)
    users[1] = "1|twenty|M|technician|85711"
    raises(["u.user", "line 2", "age 'twenty' is not a number", "user id|age|gender|occupation|zip"],
           load_movielens_100k, ml100k(tmp_path, user=users))
    users = list(U_USER)
    users[2] = "3|23|M|writer"
    raises(["u.user", "line 3", "expected 5 fields, got 4"], load_movielens_100k, ml100k(tmp_path, user=users))


def test_ml100k_missing_and_empty_files(tmp_path):
    directory = ml100k(tmp_path)
    (directory / "u.user").unlink()
    raises(["u.user", "file not found", "u.data, u.item and u.user", "grouplens.org", "data/README.md"],
           load_movielens_100k, directory)
    raises(["nowhere", "directory not found", "grouplens.org"], load_movielens_100k, tmp_path / "nowhere")
    directory = ml100k(tmp_path)
    (directory / "u.data").write_bytes(b"")
    raises(["u.data", "file is empty", "tab-separated"], load_movielens_100k, directory)
    (directory / "u.data").write_bytes(b"\n\n")
    raises(["u.data", "file is empty"], load_movielens_100k, directory)


def test_ml100k_hint_when_pointed_at_the_parent_directory(tmp_path):
    ml100k(tmp_path)
    raises(["u.data", "point at that directory"], load_movielens_100k, tmp_path)


# ---- MovieLens latest -----------------------------------------------------------------------

def test_ml_latest_happy_path(tmp_path):
    data = load_movielens_latest(ml_latest(tmp_path))
    assert data.name == "ml-latest"
    assert data.item_ids.tolist() == ["1", "2", "3", "5"]
    assert data.user_ids.tolist() == ["3", "7"]
    assert data.user_ids[data.users].tolist() == ["7", "3", "7"]
    assert data.item_ids[data.items].tolist() == ["1", "2", "3"]
    assert data.values.tolist() == [4.0, 3.5, 5.0]
    assert data.times.tolist() == [964982703.0, 964982224.0, 964983815.0]
    f = data.item_features
    assert f["title"].tolist() == ["Toy Story", "Lock, Stock and Two Smoking Barrels",
                                   "Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il)",
                                   "Hyena Road"]
    assert f["year"][:3].tolist() == [1995.0, 1998.0, 1966.0] and math.isnan(f["year"][3])
    assert f["genres"][1] == ("Comedy", "Crime", "Thriller")
    assert f["genres"][3] == ()
    assert f["title_words"][1] == ("lock", "stock", "and", "two", "smoking", "barrels")
    assert f["tags"] == [("pixar", "fun"), ("dark comedy",), (), ()]
    assert data.user_features == {}
    assert data.report.rows_read == 3 and data.report.counts == {}


def test_ml_latest_without_tags_crlf_and_report(tmp_path):
    ratings = RATINGS + ["7,1,4.0,964982703", "7,99,4.0,964982703", "3,1,2.0,964982800"]
    data = load_movielens_latest(ml_latest(tmp_path, ratings=ratings, tags=None, newline="\r\n"))
    assert "tags" not in data.item_features
    assert data.item_features["title"][1] == "Lock, Stock and Two Smoking Barrels"
    assert data.report.rows_read == 6
    assert data.report.counts == {"duplicate events": 1, "unknown item id": 1}
    assert len(data) == 4


def test_ml_latest_tag_problems_are_counted(tmp_path):
    tags = TAGS + ["7,42,lost,1445714998", "7,1,  ,1445714999"]
    data = load_movielens_latest(ml_latest(tmp_path, tags=tags))
    assert data.report.counts == {"tags for unknown item id": 1, "empty tags": 1}


def test_ml_latest_missing_column(tmp_path):
    ratings = ["userId,movieId,timestamp", "7,1,964982703"]
    raises(["ratings.csv", "line 1", "missing column 'rating'", "header found: 'userId,movieId,timestamp'",
            "userId,movieId,rating,timestamp"], load_movielens_latest, ml_latest(tmp_path, ratings=ratings))


def test_ml_latest_bad_lines(tmp_path):
    ratings = list(RATINGS)
    ratings[2] = "3,2,3.5"
    raises(["ratings.csv", "line 3", "expected 4 fields", "got 3"],
           load_movielens_latest, ml_latest(tmp_path, ratings=ratings))
    ratings = list(RATINGS)
    ratings[3] = "7,3,5.0,2000-07-30"
    raises(["ratings.csv", "line 4", "timestamp '2000-07-30' is not a number", "userId,movieId,rating,timestamp"],
           load_movielens_latest, ml_latest(tmp_path, ratings=ratings))
    ratings = list(RATINGS)
    ratings[1] = "u7,1,4.0,964982703"
    raises(["ratings.csv", "line 2", "userId 'u7' is not an integer"],
           load_movielens_latest, ml_latest(tmp_path, ratings=ratings))
    movies = list(MOVIES)
    movies[2] = "2,Lock, Stock and Two Smoking Barrels (1998),Comedy"  # unquoted commas
    raises(["movies.csv", "line 3", "expected 3 fields", "got 4"],
           load_movielens_latest, ml_latest(tmp_path, movies=movies))
    movies = list(MOVIES)
    movies[2] = '2,"Lock, Stock (1998),Comedy'  # the quote is never closed
    raises(["movies.csv", "line 3", "runs from line 3 to line 5", "double quote"],
           load_movielens_latest, ml_latest(tmp_path, movies=movies))
    tags = TAGS + ["7,x,funny,1445714998"]
    raises(["tags.csv", "line 6", "movieId 'x' is not an integer"],
           load_movielens_latest, ml_latest(tmp_path, tags=tags))


def test_ml_latest_undecodable_bytes(tmp_path):
    directory = ml_latest(tmp_path)
    path = directory / "movies.csv"
    path.write_bytes("\n".join(MOVIES[:2]).encode() + b"\n3,Caf\xe9 (1995),Comedy\n")
    error = raises(["movies.csv", "line 3", "byte 0xe9", "byte offset", "not valid UTF-8", "download it again"],
                   load_movielens_latest, directory)
    assert error.line == 3
    offset = len("\n".join(MOVIES[:2]).encode() + b"\n3,Caf")
    assert f"byte offset {offset}" in str(error)


def test_ml_latest_missing_and_empty(tmp_path):
    directory = ml_latest(tmp_path)
    (directory / "movies.csv").unlink()
    raises(["movies.csv", "file not found", "grouplens.org"], load_movielens_latest, directory)
    directory = ml_latest(tmp_path)
    (directory / "ratings.csv").write_text("")
    raises(["ratings.csv", "file is empty", "userId,movieId,rating,timestamp"], load_movielens_latest, directory)
    write(directory / "ratings.csv", RATINGS[:1])
    raises(["ratings.csv", "no data rows"], load_movielens_latest, directory)


# ---- generic CSV ----------------------------------------------------------------------------

def test_csv_defaults(tmp_path):
    path = write(tmp_path / "clicks.csv", ["user,item,time", "bob,x9,10", "amy,a1,5.5", "bob,a1,20", ""])
    data = load_csv(path)
    assert data.name == "clicks"
    assert data.user_ids.tolist() == ["bob", "amy"]  # order of first appearance
    assert data.item_ids.tolist() == ["x9", "a1"]
    assert data.users.tolist() == [0, 1, 0] and data.items.tolist() == [0, 1, 1]
    assert data.times.tolist() == [10.0, 5.5, 20.0]
    assert data.values.tolist() == [1.0, 1.0, 1.0]
    assert data.item_features == {} and data.user_features == {}
    assert data.report.rows_read == 3


def test_csv_custom_separator_columns_and_side_files(tmp_path):
    log = write(tmp_path / "log.tsv", ["ts\tstars\tmember\tsku\tignored",
                                       "100\t4\tu1\tB\tz", "90\t2\tu2\tA\tz", "95\t5\tu1\tZ\tz",
                                       "100\t4\tu1\tB\tz"], newline="\r\n")
    items = write(tmp_path / "items.tsv", ["id\ttitle\tgenres\tlanguage\tzip",
                                           'A\t"Dune, Part One"\tSci-Fi|Drama\ten\t01234',
                                           "B\tCasablanca\tDrama\tfr\t02134",
                                           "C\tNobody rated me\t\ten\t"], newline="\r\n")
    users = write(tmp_path / "users.tsv", ["member\tregion", "u2\teu", "u1\tus"])
    data = load_csv(log, items, users, user_col="member", item_col="sku", time_col="ts",
                    value_col="stars", sep="\t", item_key="id")
    assert data.name == "log"
    assert data.item_ids.tolist() == ["A", "B", "C"]  # the items file, in file order
    assert data.user_ids.tolist() == ["u2", "u1"]
    assert data.item_ids[data.items].tolist() == ["B", "A"]
    assert data.user_ids[data.users].tolist() == ["u1", "u2"]
    assert data.values.tolist() == [4.0, 2.0] and data.times.tolist() == [100.0, 90.0]
    assert data.report.rows_read == 4
    assert data.report.counts == {"unknown item id": 1, "duplicate events": 1}
    f = data.item_features
    assert f["title"].tolist() == ["Dune, Part One", "Casablanca", "Nobody rated me"]
    assert f["genres"] == [("Sci-Fi", "Drama"), ("Drama",), ()]  # a "|" somewhere: a list column
    assert f["language"].tolist() == ["en", "fr", "en"]
    assert f["zip"].tolist() == ["01234", "02134", ""]  # strings stay strings
    assert data.user_features["region"].tolist() == ["eu", "us"]

    explicit = load_csv(log, items, user_col="member", item_col="sku", time_col="ts", sep="tab",
                        item_key="id", list_columns="language")
    assert explicit.item_features["language"] == [("en",), ("fr",), ("en",)]
    assert explicit.item_features["genres"].tolist() == ["Sci-Fi|Drama", "Drama", ""]
    assert explicit.values.tolist() == [1.0, 1.0]


def test_csv_semicolon_unknown_users_and_no_time(tmp_path):
    log = write(tmp_path / "events.csv", ["u;i", "1;7", "2;7", "1;8"])
    users = write(tmp_path / "people.csv", ["u;age", "1;30"])
    data = load_csv(log, users_path=users, user_col="u", item_col="i", time_col=None, sep=";")
    assert data.times.tolist() == [0.0, 2.0]  # file order; row 2 (unknown user) was dropped
    assert data.report.counts == {"unknown user id": 1}
    assert data.user_features["age"].tolist() == ["30"]


def test_csv_byte_order_mark_quoted_ids_and_multiline_records(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffuser,item,time\n\"a,b\",x,1\n\nb,\"two\nlines\",2\nc,y,oops\n".encode("utf-8"))
    with pytest.raises(DataError) as info:
        load_csv(path)
    assert info.value.line == 6  # physical lines, even after a record spanning two lines
    path.write_bytes("\ufeffuser,item,time\n\"a,b\",x,1\n\nb,\"two\nlines\",2\n".encode("utf-8"))
    data = load_csv(path)
    assert data.user_ids.tolist() == ["a,b", "b"]
    assert data.item_ids.tolist() == ["x", "two\nlines"]


def test_csv_missing_time_column(tmp_path):
    path = write(tmp_path / "log.csv", ["user,item,when", "a,x,1"])
    raises(["log.csv", "line 1", "missing column 'time'", "header found: 'user,item,when'", "numeric seconds"],
           load_csv, path)
    raises(["log.csv", "missing column 'rating'"], load_csv, path, time_col="when", value_col="rating")


@pytest.mark.parametrize("rows, line, parts", [
    (["user,item,time", "a,x,1", "b,y,2024-01-01"], 3, ["time ('time') '2024-01-01' is not a number", "numeric seconds"]),
    (["user,item,time", "a,x,1", "b,y,2", "b,y"], 4, ["expected 3 fields", "got 2", "user,item,time"]),
    (["user,item,time", " ,x,1"], 2, ["empty user id"]),
    (["user,item,time", "a,x,inf"], 2, ["not a finite number"]),
])
def test_csv_bad_lines(tmp_path, rows, line, parts):
    path = write(tmp_path / "log.csv", rows)
    raises(["log.csv", f"line {line}"] + parts, load_csv, path)


def test_csv_bad_side_files_and_bytes(tmp_path):
    log = write(tmp_path / "log.csv", ["user,item,time", "a,x,1"])
    items = write(tmp_path / "items.csv", ["sku,title", "x,One"])
    raises(["items.csv", "line 1", "missing column 'item'", "header found: 'sku,title'", "key column"],
           load_csv, log, items)
    items = write(tmp_path / "items.csv", ["item,title", "x,One", "x,Again"])
    raises(["items.csv", "line 3", "defined twice (first on line 2)"], load_csv, log, items)
    log.write_bytes(b"user,item,time\na,x,1\nb,\xff\xfe,2\n")
    raises(["log.csv", "line 3", "not valid UTF-8", "byte offset 23", "encoding="], load_csv, log)
    assert load_csv(log, encoding="latin-1").item_ids.tolist() == ["x", "ÿþ"]
    raises(["missing.csv", "file not found"], load_csv, tmp_path / "missing.csv")
    empty = write(tmp_path / "empty.csv", [], trailing=False)
    raises(["empty.csv", "file is empty", "header row"], load_csv, empty)
    with pytest.raises(ValueError, match="single character"):
        load_csv(log, sep="::")


# ---- load_dataset ---------------------------------------------------------------------------

def test_load_dataset_dispatch(tmp_path, monkeypatch):
    directory = ml100k(tmp_path)
    assert load_dataset("ml-100k", directory).name == "ml-100k"
    monkeypatch.setenv("TT_ML100K_DIR", str(directory))
    assert load_dataset("ml-100k").n_items == 4
    monkeypatch.setenv("TT_MLLATEST_DIR", str(ml_latest(tmp_path)))
    assert load_dataset("ml-latest").n_items == 4

    (tmp_path / "csvdir").mkdir()
    log = write(tmp_path / "csvdir" / "interactions.csv", ["user,item,time", "a,x,1"])
    write(tmp_path / "csvdir" / "items.csv", ["item,title", "x,One", "y,Two"])
    assert load_dataset("csv", tmp_path / "csvdir").n_items == 2
    assert load_dataset("csv", interactions_path=log).n_items == 1
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("netflix")


def test_load_dataset_missing_directory_says_where_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TT_ML100K_DIR", str(tmp_path / "absent"))
    raises(["absent", "directory not found", "grouplens.org", "data/README.md"], load_dataset, "ml-100k")
    monkeypatch.delenv("TT_MLLATEST_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    if not (REPO_ROOT / "data" / "ml-latest-small").is_dir():
        raises(["ml-latest-small", "grouplens.org"], load_dataset, "ml-latest")


def test_load_dataset_world_is_imported_lazily(monkeypatch):
    calls = {}

    class FakeWorld:
        def interactions(self):
            return Interactions([0], [0], [0.0], [1.0], np.array(["u"]), np.array(["i"]), name="world")

    def generate_world(config=None, **overrides):
        calls["overrides"] = overrides
        return FakeWorld()

    monkeypatch.setitem(sys.modules, "lineage.world", types.SimpleNamespace(generate_world=generate_world))
    assert load_dataset("world", n_items=50).name == "world"
    assert calls["overrides"] == {"n_items": 50}


# ---- the real thing -------------------------------------------------------------------------

@pytest.mark.ml100k
def test_real_ml100k(ml100k_dir):
    data = load_movielens_100k(ml100k_dir)
    assert (data.n_users, data.n_items, len(data)) == (943, 1682, 100_000)
    assert data.report.rows_read == 100_000 and data.report.counts == {}
    assert data.item_features["title"][0] == "Toy Story"
    assert set(np.unique(data.values).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert (data.item_counts() > 0).all() and (data.user_counts() >= 20).all()
