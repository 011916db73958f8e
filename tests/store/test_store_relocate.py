"""A store is a directory: copied or moved, it answers with its own rows (issue 11, item 5)."""

from __future__ import annotations

import os
import shutil

import pytest
from test_store_commit import _tables

from flows.cli import main as cloud
from screening.store import ResultsStore

CID = "camp"


def _ids(root) -> list[str]:
    store = ResultsStore(root)
    return store.query("SELECT candidate_id FROM predictions ORDER BY 1").column("candidate_id").to_pylist()


def _cli_count(capsys, root) -> int:
    assert (
        cloud(["query", "SELECT count(*) AS n FROM candidates", "--results", str(root), "--format", "csv"])
        == 0
    )
    return int(capsys.readouterr().out.split()[1])


@pytest.fixture
def original(tmp_path) -> ResultsStore:
    store = ResultsStore(tmp_path / "original")
    store.ensure()
    store.commit_chunk(CID, "c1", _tables(CID, "c1", ["a", "b"]))
    return store


def test_a_copy_answers_with_its_own_rows(capsys, original, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(original.root, copy)
    original.commit_chunk(CID, "c2", _tables(CID, "c2", ["x", "y", "z"]))  # the original changes...
    assert _ids(original.root) == ["a", "b", "x", "y", "z"]
    assert _ids(copy) == ["a", "b"]  # ...the copy does not
    assert _cli_count(capsys, copy) == 2
    shutil.rmtree(original.root)  # and the copy outlives it
    assert _ids(copy) == ["a", "b"]
    assert _cli_count(capsys, copy) == 2
    info = ResultsStore(copy).query("SELECT root FROM store_info").column("root").to_pylist()
    assert info == [str(copy)]


def test_a_moved_store_still_answers(capsys, original, tmp_path):
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    os.rename(original.root, moved)
    assert _ids(moved) == ["a", "b"]
    assert _cli_count(capsys, moved) == 2
    # and keeps working as a store: a writer adds a chunk where it is now
    ResultsStore(moved).commit_chunk(CID, "c2", _tables(CID, "c2", ["c"]))
    assert _ids(moved) == ["a", "b", "c"]


def test_the_working_directory_does_not_matter(original, tmp_path, monkeypatch):
    """Relative paths in the views resolve against the store, never the working directory (even another store)."""
    other = ResultsStore(tmp_path / "other")
    other.ensure()
    other.commit_chunk(CID, "o1", _tables(CID, "o1", ["o"]))
    monkeypatch.chdir(other.root)
    assert _ids(original.root) == ["a", "b"]
    monkeypatch.chdir(original.root)
    assert _ids(other.root) == ["o"]
