"""Building: incremental by content hash, replacement, removal, bad files skipped, nothing lost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FACTUALLY, NILC, copy_knowledge

from index.build import build
from index.chunk import ranking_text, section_and_text
from index.embed import english_model
from index.errors import IndexMissingError
from index.settings import Settings
from index.store import Store, open_store


def _store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "data", "knowledge", None, create=True)


def _chunks_of(store: Store, doc_id: str) -> list[str]:
    found = store.chunks.get(where={"doc_id": doc_id}, include=["documents"])
    return list(found["documents"] or [])


def test_second_build_adds_nothing(tmp_path: Path) -> None:
    corpus = copy_knowledge(tmp_path / "k")
    store = _store(tmp_path)
    first = build([corpus], store)
    assert first.ok and len(first.added) == 2 and first.chunks_added == first.chunks > 0
    second = build([corpus], store)
    assert second.ok
    assert (second.chunks_added, len(second.added), len(second.updated), second.unchanged) == (
        0,
        0,
        0,
        2,
    )
    assert second.chunks == first.chunks and second.documents == 2


def test_changed_file_is_reindexed_and_removed_file_disappears(tmp_path: Path) -> None:
    corpus = copy_knowledge(tmp_path / "k")
    store = _store(tmp_path)
    build([corpus], store)
    before = store.manifest()[NILC]

    nilc = corpus / NILC
    nilc.write_text(
        nilc.read_text(encoding="utf-8").replace("in 2010", "in 2011"), encoding="utf-8"
    )
    (corpus / FACTUALLY).unlink()
    report = build([corpus], store)

    assert report.ok
    assert report.updated == [NILC] and report.removed == [FACTUALLY]
    assert not _chunks_of(store, FACTUALLY)
    assert FACTUALLY not in store.manifest()
    texts = _chunks_of(store, NILC)
    assert any("gang database in 2011" in t for t in texts)
    assert not any("gang database in 2010" in t for t in texts)
    after = store.manifest()[NILC]
    assert after.hash != before.hash and after.chunks == len(texts)
    assert report.documents == 1 and report.chunks == len(texts) == store.count()[1]


def test_bad_files_are_reported_and_good_ones_indexed(tmp_path: Path) -> None:
    corpus = copy_knowledge(tmp_path / "k")
    (corpus / "empty.txt").write_text("")
    (corpus / "table.xlsx").write_bytes(b"PK\x03\x04")
    report = build([corpus], _store(tmp_path))
    assert not report.ok
    assert sorted(Path(f.path).name for f in report.failed) == ["empty.txt", "table.xlsx"]
    assert len(report.added) == 2 and report.chunks > 0


def test_a_file_that_turns_bad_keeps_its_indexed_passages(tmp_path: Path) -> None:
    corpus = copy_knowledge(tmp_path / "k")
    store = _store(tmp_path)
    build([corpus], store)
    kept = _chunks_of(store, NILC)
    (corpus / NILC).write_bytes(b"\xff\xfe broken \x00 bytes")
    report = build([corpus], store)
    assert not report.ok and [Path(f.path).name for f in report.failed] == [NILC]
    assert report.removed == []
    assert sorted(_chunks_of(store, NILC)) == sorted(kept)


def test_building_one_folder_leaves_documents_of_other_folders(tmp_path: Path) -> None:
    corpus = copy_knowledge(tmp_path / "k")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "note.md").write_text("# Note\n\nA county sheriff signed a 287(g) agreement.\n")
    store = _store(tmp_path)
    build([corpus], store)
    build([extra], store)
    assert set(store.manifest()) == {NILC, FACTUALLY, "note.md"}
    (extra / "note.md").unlink()
    report = build([extra], store)
    assert report.removed == ["note.md"]
    assert set(store.manifest()) == {NILC, FACTUALLY}


def test_opening_a_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="python -m index build"):
        open_store(tmp_path / "nothing", "knowledge", None, create=False)


def test_a_passage_is_embedded_from_its_heading_and_text_alone(index_settings: Settings) -> None:
    """The stored vectors are those of the section heading and passage text, nothing else: no
    metadata (the document hash the build adds) leaks into what is encoded or matched."""
    store = open_store(index_settings.data_dir, index_settings.collection, None, create=False)
    stored = store.chunks.get(include=["embeddings", "metadatas", "documents"])
    nodes = store.passages(list(stored["ids"]))
    expected = [section_and_text(str(n.metadata.get("section") or ""), n.text) for n in nodes]
    assert [ranking_text(n) for n in nodes] == expected
    assert not any(n.metadata["doc_hash"] in text for n, text in zip(nodes, expected, strict=True))
    vectors = np.asarray(english_model(passages=True).get_text_embedding_batch(expected))
    cosines = (vectors * np.asarray(stored["embeddings"])).sum(axis=1)
    assert cosines.min() > 0.9999
