"""`kbqa bench memory`: peak memory and seconds to read and split one large or hostile file.

Each kind of file is generated in a temporary folder, then read and split in a fresh Python
process, the way ingest does it: the configured embedder's tokenizer counts tokens, the file is
read in the reader process (kbqa/loaders/worker.py) under the per-file limits (`--in-process`:
in the measuring process itself, as with `ingest.worker = false`). Printed per kind: the
measuring process's peak RSS above its idle RSS (embedder loaded, nothing read yet), the reader's
peak RSS, their sum, the seconds, and the result (chunks, or the refusal's reason).

Kinds: txt (ordinary lines of prose), txt-line (one line of words, no punctuation), txt-token
(one "word" with no spaces), html (a long page of sections, paragraphs, lists and tables),
pdf-bomb (a small PDF whose content stream inflates to --bomb-mb MB of text operators), docx-bomb
(a .docx whose document.xml inflates to --bomb-mb MB of tiny paragraphs).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

KINDS = ("txt", "txt-line", "txt-token", "html", "pdf-bomb", "docx-bomb")

_WORDS = [
    "the",
    "configuration",
    "option",
    "sets",
    "how",
    "many",
    "worker",
    "threads",
    "the",
    "server",
    "starts",
    "when",
    "it",
    "boots",
    "and",
    "each",
    "request",
    "is",
    "handled",
    "by",
    "one",
    "of",
    "them",
    "until",
    "the",
    "queue",
    "is",
    "full",
    "or",
    "the",
    "timeout",
    "passes",
]


# -- generated files ---------------------------------------------------------------------------


def _write_repeated(path: Path, size: int, make: Callable[[random.Random], str]) -> Path:
    rng = random.Random(0)
    written = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        while written < size:
            block = make(rng)
            handle.write(block)
            written += len(block.encode("utf-8"))
    return path


def text_lines(path: Path, size: int) -> Path:
    """Lines of English and Chinese prose (the repository's own sentences)."""
    from kbqa.bench.common import sentence_pool

    zh, en = sentence_pool()
    pool = zh + en
    return _write_repeated(
        path, size, lambda rng: "\n".join(rng.choice(pool) for _ in range(200)) + "\n"
    )


def text_one_line(path: Path, size: int) -> Path:
    """One line of words separated by spaces: no sentence end, no line break."""
    return _write_repeated(path, size, lambda rng: " ".join(rng.choices(_WORDS, k=2000)) + " ")


def text_one_token(path: Path, size: int) -> Path:
    """One run of letters without a space."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return _write_repeated(path, size, lambda rng: "".join(rng.choices(letters, k=65536)))


def html_page(path: Path, size: int) -> Path:
    """A long HTML manual: sections with headings, paragraphs, lists, tables, nested divs."""

    def section(rng: random.Random) -> str:
        words = lambda n: " ".join(rng.choices(_WORDS, k=n))  # noqa: E731
        rows = "".join(
            f"<tr><td>{words(2)}</td><td>{rng.randint(1, 999)}</td><td>{words(4)}</td></tr>"
            for _ in range(5)
        )
        items = "".join(f"<li><a href='#x'>{words(3)}</a> {words(8)}</li>" for _ in range(6))
        return (
            f"<div class='section'><h2>{words(3)}</h2><div><p>{words(40)}.</p>"
            f"<p><b>{words(2)}</b> {words(30)}.</p></div><ul>{items}</ul>"
            f"<table><tr><th>name</th><th>value</th><th>note</th></tr>{rows}</table></div>\n"
        )

    head = "<!DOCTYPE html><html><head><title>Manual</title></head><body><h1>Manual</h1>\n"
    path.write_text(head, encoding="utf-8")
    with path.open("a", encoding="utf-8") as handle:
        rng = random.Random(0)
        written = len(head)
        while written < size - 20:
            block = "".join(section(rng) for _ in range(20))
            handle.write(block)
            written += len(block.encode("utf-8"))
        handle.write("</body></html>\n")
    return path


def raw_pdf(objects: Sequence[bytes]) -> bytes:
    """A PDF file from its objects' bodies (object 1 is the catalog), with a correct xref."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def pdf_stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def pdf_page(contents: int, font: int, parent: int) -> bytes:
    return (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
        b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (parent, contents, font)
    )


def pdf_pages(texts: Sequence[str]) -> bytes:
    """A plain PDF with one line of ASCII text on each page."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", FONT]
    kids = []
    for text in texts:
        content = b"BT /F1 12 Tf 72 700 Td (%s) Tj ET" % text.encode("ascii")
        objects.append(pdf_stream(content))
        objects.append(pdf_page(len(objects), 3, 2))
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    return raw_pdf(objects)


def cyclic_pdf(text: str = "The only page of a cyclic tree") -> bytes:
    """One page, reached twice through a /Pages node that lists the root again (a cycle)."""
    content = b"BT /F1 12 Tf 72 700 Td (%s) Tj ET" % text.encode("ascii")
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 3 >>",
            pdf_page(4, 5, 2),
            pdf_stream(content),
            FONT,
            b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 2 >>",
        ]
    )


def _deflate_repeated(prefix: bytes, block: bytes, count: int, suffix: bytes) -> bytes:
    """The zlib stream of prefix + block * count + suffix, in the time of compressing one block:
    after a full flush the compressor starts afresh, so each copy compresses to the same bytes;
    the Adler-32 at the end is computed over all of it, so the stream is valid to its end."""
    packer = zlib.compressobj(9)
    head = packer.compress(prefix) + packer.flush(zlib.Z_FULL_FLUSH)
    body = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    assert again == body, "the compressor did not start afresh after a full flush"
    tail = packer.compress(suffix) + packer.flush()
    checksum = zlib.adler32(prefix)
    for _ in range(count):
        checksum = zlib.adler32(block, checksum)
    checksum = zlib.adler32(suffix, checksum)
    return head + body * count + tail[:-4] + checksum.to_bytes(4, "big")


def pdf_bomb(path: Path, inflated_mb: int) -> Path:
    """A page whose Flate content stream inflates to `inflated_mb` MB of text operators."""
    operators = b"(bomb) Tj " * (1 << 16)  # 640 KiB
    count = max(1, (inflated_mb << 20) // len(operators))
    content = _deflate_repeated(b"BT /F1 12 Tf 72 700 Td ", operators, count, b"ET")
    path.write_bytes(
        raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                pdf_page(4, 5, 2),
                pdf_stream(content, b"/Filter /FlateDecode "),
                FONT,
            ]
        )
    )
    return path


_DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_DOCX_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)


def docx_bomb(path: Path, inflated_mb: int) -> Path:
    """A .docx whose document.xml inflates to `inflated_mb` MB of one-letter paragraphs."""
    paragraphs = b"<w:p><w:r><w:t>x</w:t></w:r></w:p>" * (1 << 14)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", _DOCX_TYPES)
        package.writestr("_rels/.rels", _DOCX_RELS)
        with package.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w='
                b'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            )
            for _ in range(max(1, (inflated_mb << 20) // len(paragraphs))):
                part.write(paragraphs)
            part.write(b"</w:body></w:document>")
    return path


def generate(kind: str, folder: Path, args: argparse.Namespace) -> Path:
    mb = 1 << 20
    if kind == "txt":
        return text_lines(folder / "lines.txt", int(args.txt_mb * mb))
    if kind == "txt-line":
        return text_one_line(folder / "one-line.txt", int(args.txt_mb * mb))
    if kind == "txt-token":
        return text_one_token(folder / "one-token.txt", int(args.txt_mb * mb))
    if kind == "html":
        return html_page(folder / "page.html", int(args.html_mb * mb))
    if kind == "pdf-bomb":
        return pdf_bomb(folder / "bomb.pdf", args.bomb_mb)
    if kind == "docx-bomb":
        return docx_bomb(folder / "bomb.docx", args.bomb_mb)
    raise ValueError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")


# -- measuring ---------------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def measure(path: str, in_process: bool) -> dict[str, object]:
    """Read and split one file the way ingest does; runs in a fresh process per file."""
    from kbqa import loaders
    from kbqa.embedders import load_embedder
    from kbqa.errors import LoaderError
    from kbqa.ingest import HEADING_TOKENS, MAX_CHUNK_TOKENS
    from kbqa.loaders.worker import LoadWorker
    from kbqa.settings import Settings
    from kbqa.splitter import ChineseAwareSplitter

    settings = Settings.load()
    embedder = load_embedder(settings.embedder)
    size = min(embedder.max_tokens, MAX_CHUNK_TOKENS) - HEADING_TOKENS
    splitter = ChineseAwareSplitter(
        chunk_size=size,
        chunk_overlap=min(settings.splitter.chunk_overlap, size // 4),
        count_tokens=lambda text: embedder.count_tokens([text])[0],
        count_tokens_batch=embedder.count_tokens,
    )
    splitter.split_text("warm up the tokenizer. " * 50)
    worker = None if in_process else LoadWorker(settings.ingest)
    reader_idle = 0.0
    if worker is not None:
        worker.modules()  # started, so its idle size is known
        reader_idle = worker.reader_peak_mb
    idle = _rss()
    peak = [idle]
    sampling = threading.Event()

    def sample() -> None:  # RSS every 5 ms: ru_maxrss would count the embedder's loading too
        while not sampling.wait(0.005):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    result: dict[str, object] = {}
    try:
        sections = loaders.load(path, settings.ingest, worker=worker)
        read = time.perf_counter() - started
        chunks = splitter.split(sections, source=Path(path).name, path=Path(path).name)
        result = {"chunks": len(chunks), "read_s": read}
    except LoaderError as error:
        result = {"refused": str(error)}
    seconds = time.perf_counter() - started
    sampling.set()
    sampler.join()
    peak[0] = max(peak[0], _rss())
    reader_peak = 0.0
    if worker is not None:
        # Its own VmHWM, sent with each reply; a reader killed past a limit sent none.
        reader_peak = worker.reader_peak_mb if worker.starts == 1 else float("nan")
        worker.close()
    return {
        **result,
        "seconds": seconds,
        "main_above_idle_mb": (peak[0] - idle) / 2**20,
        "reader_peak_mb": reader_peak,
        "reader_idle_mb": reader_idle,
    }


def overhead(limits: object, files: int = 200) -> None:
    """What the reader process costs: its start, and per file against reading in-process."""
    from kbqa import loaders
    from kbqa.loaders.worker import LoadWorker

    with tempfile.TemporaryDirectory(prefix="kbqa-bench-small-") as folder:
        paths = []
        for number in range(files):
            path = Path(folder) / f"note-{number}.txt"
            path.write_text(f"Note {number}. " + " ".join(_WORDS) + "\n", encoding="utf-8")
            paths.append(path)
        started = time.perf_counter()
        for path in paths:
            loaders.load(path, limits)
        here = (time.perf_counter() - started) / files
        with LoadWorker(limits) as worker:
            started = time.perf_counter()
            worker.modules()
            start_up = time.perf_counter() - started
            started = time.perf_counter()
            for path in paths:
                loaders.load(path, worker=worker)
            there = (time.perf_counter() - started) / files
    print(
        f"reader process: start-up {start_up:.2f} s once per ingest run; {files} small .txt "
        f"files {there * 1000:.2f} ms each in it against {here * 1000:.2f} ms in-process "
        f"(+{(there - here) * 1000:.2f} ms a file)"
    )


def stall(path: Path, limits: object) -> str:
    """Longest wait of a thread that sleeps 1 ms in a loop while another one reads `path`,
    in-process and through the reader process (what other UI sessions feel during an upload)."""
    import threading as threads

    from kbqa import loaders
    from kbqa.loaders.worker import LoadWorker

    figures = []
    for worker in (None, LoadWorker(limits)):
        if worker is not None:
            worker.modules()
        done = threads.Event()

        def read(worker: LoadWorker | None = worker, done: threads.Event = done) -> None:
            try:
                loaders.load(path, limits, worker=worker)
            finally:
                done.set()

        reader = threads.Thread(target=read)
        reader.start()
        worst, last = 0.0, time.perf_counter()
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            worst, last = max(worst, now - last), now
        reader.join()
        if worker is not None:
            worker.close()
        figures.append(worst * 1000)
    return f"in-process {figures[0]:,.0f} ms, through the reader {figures[1]:,.0f} ms"


def run(args: argparse.Namespace) -> int:
    from kbqa.bench.common import machine
    from kbqa.settings import Settings

    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    for kind in kinds:
        if kind not in KINDS:
            print(f"unknown kind {kind!r} (expected: {', '.join(KINDS)})", file=sys.stderr)
            return 2
    limits = Settings.load().ingest
    print(f"machine: {machine()}")
    print(
        f"limits: max_chars {limits.max_chars:,}, max_pages {limits.max_pages}, max_inflated_mb "
        f"{limits.max_inflated_mb}, max_seconds {limits.max_seconds:g}, max_memory_mb "
        f"{limits.max_memory_mb}; reading {'in-process' if args.in_process else 'in the reader process'}"
    )
    print(
        f"{'kind':<10} {'file MB':>8} {'main MB':>8} {'reader MB':>9} {'sum MB':>7} "
        f"{'seconds':>8}  result"
    )
    reader_idle = 0.0
    with tempfile.TemporaryDirectory(prefix="kbqa-bench-memory-") as folder:
        for kind in kinds:
            path = generate(kind, Path(folder), args)
            command = [sys.executable, "-m", "kbqa.bench.memory", "--measure", str(path)]
            if args.in_process:
                command.append("--in-process")
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{kind:<10} failed: {done.stderr.strip()[-500:]}")
                continue
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            size = path.stat().st_size / 2**20
            path.unlink()
            reader_idle = figures["reader_idle_mb"] or reader_idle
            main = figures["main_above_idle_mb"]
            reader = figures["reader_peak_mb"]
            if "refused" in figures:
                outcome = f"refused: {figures['refused']}"
            else:
                outcome = f"{figures['chunks']:,} chunks (read in {figures['read_s']:.1f} s)"
            print(
                f"{kind:<10} {size:>8.1f} {main:>8.0f} {reader:>9.0f} {main + reader:>7.0f} "
                f"{figures['seconds']:>8.1f}  {outcome}"
            )
    overhead(limits)
    if args.stall:
        with tempfile.TemporaryDirectory(prefix="kbqa-bench-stall-") as folder:
            text = text_lines(Path(folder) / "lines.txt", int(args.txt_mb * (1 << 20)))
            page = html_page(Path(folder) / "page.html", int(args.html_mb * (1 << 20)))
            print(
                f"longest stall of another thread, {args.txt_mb:g} MiB .txt: {stall(text, limits)}"
            )
            print(
                f"longest stall of another thread, {args.html_mb:g} MiB HTML: {stall(page, limits)}"
            )
    print(
        "main MB: the measuring process's peak RSS above its idle RSS (embedder loaded); reader "
        f"MB: the reader process's peak RSS (its VmHWM; idle {reader_idle:.0f} MB); "
        "sum: an upper bound of both at once"
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m kbqa.bench.memory")
    parser.add_argument("--measure", required=True)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.measure, args.in_process)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
