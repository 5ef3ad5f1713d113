"""Readers (CSV, Parquet, IPC), the King County CSV quirks, and the derive cache."""

from __future__ import annotations

import importlib

import polars as pl
import pytest
from synthetic_frames import house_frame

from nnforge.data import DatasetSpec, Log10, Out, derive, read_table

# The module, not the function `nnforge.data.derive` that shadows it as a package attribute.
derive_module = importlib.import_module("nnforge.data.derive")


@pytest.mark.parametrize("ext", ["csv", "parquet", "arrow", "ipc", "feather"])
def test_readers_by_extension(tmp_path, ext):
    frame = pl.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    path = tmp_path / f"t.{ext}"
    if ext == "csv":
        frame.write_csv(path)
    elif ext == "parquet":
        frame.write_parquet(path)
    else:
        frame.write_ipc(path)
    assert read_table(path).equals(frame)


def test_king_county_quirks_are_read_as_numbers(tmp_path):
    path = tmp_path / "kc.csv"
    path.write_text(
        "id,date,price,floors,zipcode\n"
        '"7129300520","20141013T000000",221900,"1",98178\n'
        '"6414100192","20141209T000000",1.225e+006,"1.5","98125"\n'
    )
    frame = read_table(path)
    assert frame["price"].to_list() == [221900.0, 1225000.0]
    assert frame["floors"].dtype == pl.Float64
    assert frame["id"].dtype == pl.Int64
    assert frame["zipcode"].dtype == pl.Int64


def kc_like_spec(frame: pl.DataFrame) -> DatasetSpec:
    return DatasetSpec.from_frame(frame.drop("date", "city")).add_opt_to("price", Out)


def test_cache_hit_miss_and_disable(tmp_path, monkeypatch):
    frame = house_frame()
    path = tmp_path / "h.csv"
    frame.write_csv(path)
    cache = tmp_path / "cache"
    spec = kc_like_spec(frame)
    first = derive(spec, path, cache=cache)
    assert len(list(cache.glob("*.parquet"))) == 1

    def boom(_path):
        raise AssertionError("the file was read again despite a cache hit")

    monkeypatch.setattr(derive_module, "read_table", boom)
    assert derive(spec, path, cache=cache).equals(first)
    monkeypatch.undo()

    # another spec or other content is another entry
    derive(spec.add_opt_to("sqft", Log10), path, cache=cache)
    frame.head(10).write_csv(path)
    assert derive(spec, path, cache=cache).height == 10
    assert len(list(cache.glob("*.parquet"))) == 3

    other = tmp_path / "off"
    derive(spec, path, cache=False)
    assert not other.exists()


def test_default_cache_is_in_the_user_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    frame = house_frame()
    path = tmp_path / "h.csv"
    frame.write_csv(path)
    derive(kc_like_spec(frame), path)
    assert len(list((tmp_path / "xdg" / "nnforge" / "derived").glob("*.parquet"))) == 1


def test_corrupt_cache_entry_is_a_miss(tmp_path):
    frame = house_frame()
    path = tmp_path / "h.csv"
    frame.write_csv(path)
    cache = tmp_path / "cache"
    first = derive(kc_like_spec(frame), path, cache=cache)
    entry = next(cache.glob("*.parquet"))
    entry.write_bytes(b"garbage")
    assert derive(kc_like_spec(frame), path, cache=cache).equals(first)
