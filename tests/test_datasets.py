"""King County data: the packaged copy, path resolution, fetch with SHA-256 over HTTP, the CLI."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import polars as pl
import pytest

from nnforge import datasets
from nnforge.cli import main
from nnforge.data import DataFileNotFoundError, read_table
from nnforge.exceptions import DataError

KC = datasets.KING_COUNTY_FILE
SMALL = "id,date,price\n1,20141013T000000,221900\n2,20141209T000000,538000\n"


@pytest.fixture(scope="module")
def real_kc(tmp_path_factory) -> Path:
    """The original kc_house_data.csv, byte for byte, rendered from the packaged table."""
    path = tmp_path_factory.mktemp("kc") / KC
    path.write_bytes(datasets.king_county_csv())
    return path


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No NNFORGE_DATA_DIR, an empty working directory and an empty user cache."""
    monkeypatch.delenv("NNFORGE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def _put(folder: Path, text: str = SMALL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / KC).write_text(text)
    return folder / KC


# ---- resolution -----------------------------------------------------------------------------


def test_resolution_order(clean_env, monkeypatch):
    assert datasets.king_county_path() == datasets.PACKAGED_KING_COUNTY  # nothing else there
    cache_file = _put(clean_env / "xdg" / "nnforge" / "datasets")
    assert datasets.king_county_path() == cache_file
    local = _put(clean_env / "work" / "data")
    assert datasets.king_county_path().resolve() == local.resolve()
    env_file = _put(clean_env / "env")
    monkeypatch.setenv("NNFORGE_DATA_DIR", str(clean_env / "env"))
    assert datasets.king_county_path() == env_file
    explicit = _put(clean_env / "explicit")
    assert datasets.king_county_path(explicit) == explicit
    assert datasets.king_county_path(explicit.parent) == explicit  # a folder works too


def test_explicit_path_does_not_fall_back(clean_env):
    _put(clean_env / "work" / "data")
    with pytest.raises(DataFileNotFoundError, match="explicit path"):
        datasets.king_county_path(clean_env / "typo.csv")


def test_not_found_says_where_to_download_and_put_it(clean_env, monkeypatch):
    monkeypatch.setattr(datasets, "PACKAGED_KING_COUNTY", clean_env / "removed.parquet")
    with pytest.raises(FileNotFoundError) as info:
        datasets.king_county()
    message = str(info.value)
    assert "kaggle.com" in message
    assert "NNFORGE_DATA_DIR" in message
    assert str(clean_env / "xdg" / "nnforge" / "datasets") in message
    assert "nnforge data fetch king-county" in message


def test_king_county_reads_the_frame(real_kc):
    frame = datasets.king_county(real_kc)
    assert frame.shape == (21613, 21)
    assert frame["floors"].dtype.is_float()


# ---- the packaged copy ----------------------------------------------------------------------


def test_packaged_copy_needs_no_argument_and_no_file(clean_env):
    frame = datasets.king_county()
    assert frame.shape == (21613, 21)
    assert datasets.PACKAGED_KING_COUNTY.suffix == ".parquet"
    assert datasets.PACKAGED_KING_COUNTY.stat().st_size < 2 * 2**20


def test_packaged_copy_is_the_published_csv_byte_for_byte(clean_env, real_kc):
    # The table written with the file's own formatting gives the published file's SHA-256...
    assert hashlib.sha256(real_kc.read_bytes()).hexdigest() == datasets.KING_COUNTY_SHA256
    # ...and reading that CSV gives exactly the packaged table: same columns, types and values
    # (quoted ids and floors, 1.225e+006 prices, dates as text).
    from_csv, packaged = read_table(real_kc), datasets.king_county()
    assert from_csv.schema == packaged.schema
    assert from_csv.equals(packaged)
    assert packaged.filter(pl.col("price") == 1_225_000).height >= 1  # a "1.225e+006" row
    assert packaged["date"][0] == "20141013T000000"


def test_packaged_copy_records_its_source_and_licence():
    note = datasets.PACKAGED_KING_COUNTY.with_name("kc_house_data.SOURCE.txt").read_text()
    assert datasets.KING_COUNTY_SHA256 in note
    assert "harlfoxem/housesalesprediction" in note
    assert "CC0" in note


def test_a_csv_of_your_own_still_comes_first(clean_env, monkeypatch):
    mine = _put(clean_env / "env")
    monkeypatch.setenv("NNFORGE_DATA_DIR", str(mine.parent))
    assert datasets.king_county().shape == (2, 3)


# ---- fetch over a local HTTP server ---------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """Serve ``tmp_path / "www"`` on 127.0.0.1; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_fetch_accepts_a_matching_file(server, tmp_path):
    root, url = server
    (root / KC).write_text(SMALL)
    digest = hashlib.sha256(SMALL.encode()).hexdigest()
    dest = tmp_path / "dest"
    path = datasets.fetch_king_county(f"{url}/{KC}", dest, sha256=digest)
    assert path == dest / KC
    assert path.read_text() == SMALL
    assert sorted(p.name for p in dest.iterdir()) == [KC]  # no temporary file left


def test_fetch_rejects_a_corrupted_download_and_leaves_no_file(server, tmp_path):
    root, url = server
    (root / KC).write_text(SMALL.replace("221900", "221901"))
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match=r"corrupted.*SHA-256.*expected d0875baa"):
        datasets.fetch_king_county(f"{url}/{KC}", dest)
    assert not dest.exists() or list(dest.iterdir()) == []


def test_fetch_http_error_leaves_no_file(server, tmp_path):
    _, url = server
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match=r"download of .* failed"):
        datasets.fetch_king_county(f"{url}/missing.csv", dest)
    assert not dest.exists() or list(dest.iterdir()) == []


def test_fetch_real_file_with_the_published_hash(server, tmp_path, real_kc):
    root, url = server
    (root / KC).write_bytes(real_kc.read_bytes())
    path = datasets.fetch_king_county(f"{url}/{KC}", tmp_path / "dest")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == datasets.KING_COUNTY_SHA256


def test_fetch_skips_when_already_present(tmp_path):
    dest = _put(tmp_path / "dest")
    digest = hashlib.sha256(SMALL.encode()).hexdigest()
    # the URL is never opened: the stored file already has the expected hash
    assert datasets.fetch_king_county("http://127.0.0.1:9/none", dest.parent, sha256=digest) == dest


# ---- CLI ------------------------------------------------------------------------------------


def test_cli_fetch_default_dest_is_the_user_cache(server, clean_env, monkeypatch, capsys):
    root, url = server
    (root / KC).write_text(SMALL)
    monkeypatch.setattr(datasets, "KING_COUNTY_SHA256", hashlib.sha256(SMALL.encode()).hexdigest())
    assert main(["data", "fetch", "king-county", "--url", f"{url}/{KC}"]) == 0
    stored = clean_env / "xdg" / "nnforge" / "datasets" / KC
    assert stored.read_text() == SMALL
    assert str(stored) in capsys.readouterr().out
    assert main(["data", "where"]) == 0
    assert "<- found" in capsys.readouterr().out


def test_cli_fetch_corrupted_exits_1(server, clean_env, capsys):
    root, url = server
    (root / KC).write_text("not the data\n")
    dest = clean_env / "dest"
    code = main(["data", "fetch", "king-county", "--url", f"{url}/{KC}", "--dest", str(dest)])
    assert code == 1
    assert "SHA-256" in capsys.readouterr().err
    assert not dest.exists() or list(dest.iterdir()) == []


def test_cli_where_finds_the_packaged_copy(clean_env, capsys):
    assert main(["data", "where"]) == 0
    out = capsys.readouterr().out
    assert "$NNFORGE_DATA_DIR" in out
    assert f"packaged copy      {datasets.PACKAGED_KING_COUNTY}  <- found" in out


def test_cli_where_not_found(clean_env, capsys, monkeypatch):
    monkeypatch.setattr(datasets, "PACKAGED_KING_COUNTY", clean_env / "removed.parquet")
    assert main(["data", "where"]) == 1
    out = capsys.readouterr().out
    assert "not found" in out
