"""``nnforge data``: get the datasets and see where nnforge looks for them.

* ``nnforge data fetch king-county --url URL [--dest DIR]`` downloads the King County CSV, checks
  its SHA-256 and stores it atomically (default: the user cache).
* ``nnforge data where`` prints the lookup order and which location holds the file.
"""

from __future__ import annotations

import argparse
import os

from nnforge import datasets

__all__ = ["register", "run_fetch", "run_where"]

_DATASETS = ("king-county",)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` subcommand and its ``fetch``/``where`` actions."""
    parser = subparsers.add_parser(
        "data",
        help="fetch datasets and show where they are looked up",
        description=(
            "Datasets are never copied into the repository. They are looked up at an explicit "
            f"path, then ${datasets.DATA_DIR_ENV}, then ./data/, then the user cache."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    fetch = actions.add_parser(
        "fetch",
        help="download a dataset with a SHA-256 check",
        description=(
            "Download a dataset to DIR (default: the user cache), accepting it only if its "
            "SHA-256 matches the published file. Nothing is written on a failed or corrupted "
            "download."
        ),
    )
    fetch.add_argument("dataset", choices=_DATASETS, help="which dataset")
    fetch.add_argument("--url", required=True, help="http(s):// or file:// URL of the CSV")
    fetch.add_argument(
        "--dest",
        metavar="DIR",
        default=None,
        help=f"destination folder (default: {datasets.default_dest_dir()})",
    )
    fetch.set_defaults(func=run_fetch)
    where = actions.add_parser("where", help="print the lookup order and where the data is")
    where.set_defaults(func=run_where)
    parser.set_defaults(func=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_fetch(args: argparse.Namespace) -> int:
    """Download and verify; returns the exit code."""
    path = datasets.fetch_king_county(args.url, args.dest)
    print(f"King County data verified (SHA-256 {datasets.KING_COUNTY_SHA256[:12]}...) at {path}")
    return 0


def run_where(args: argparse.Namespace) -> int:
    """Print the resolution order, marking the first location that has the file.

    Returns 0 when the file is found and 1 when it is not, so scripts can test for it.
    """
    print(f"{datasets.KING_COUNTY_FILE} is looked up in this order:")
    print("  1. an explicit path (nnforge.datasets.king_county(path=...))")
    found = None
    places = datasets.search_paths()
    if not os.environ.get(datasets.DATA_DIR_ENV):
        print(f"  2. ${datasets.DATA_DIR_ENV:<17} (not set)")
    first = 2 if os.environ.get(datasets.DATA_DIR_ENV) else 3
    for i, (label, candidate) in enumerate(places, start=first):
        here = candidate.is_file()
        mark = ""
        if here:
            mark = "  <- found" if found is None else "  (also present)"
            found = found or candidate
        print(f"  {i}. {label:<18} {candidate}{mark}")
    if found is None:
        print(
            f"not found: download it from {datasets.KING_COUNTY_SOURCE}, or run "
            "`nnforge data fetch king-county --url URL`"
        )
        return 1
    return 0
