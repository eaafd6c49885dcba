"""`kbqa kb list|show|create|copy|remove|delete|check|repair`."""

from __future__ import annotations

import argparse
import datetime
import json

_STORE_HELP = (
    "where the records live: postgresql://user@host:5432/db, milvus://host:19530, "
    "milvus:///path/file.db (Milvus Lite); default: the embedded SQLite + FAISS store "
    "(password: KBQA_STORE_PASSWORD, PGPASSWORD or MILVUS_TOKEN, never kept)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("kb", help="list, show, check, repair or delete knowledge bases")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="knowledge bases with file and chunk counts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler="kbqa.cli.kb:list_bases")
    show = actions.add_parser("show", help="manifest and files of one knowledge base")
    show.add_argument("name", nargs="?", help="default: 'default'")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler="kbqa.cli.kb:show")
    create = actions.add_parser(
        "create",
        help="create an empty knowledge base, in its folder or on a server (or attach to one "
        "already there)",
    )
    create.add_argument("name")
    create.add_argument("--store", metavar="URI", help=_STORE_HELP)
    create.set_defaults(handler="kbqa.cli.kb:create")
    copy = actions.add_parser(
        "copy", help="copy (or move) a knowledge base to another store without re-embedding"
    )
    copy.add_argument("name")
    copy.add_argument("--to", required=True, metavar="URI", help=_STORE_HELP + "; 'embedded'")
    copy.add_argument(
        "--as",
        dest="as_name",
        metavar="NEW",
        help="name of the copy (default: the same name, which then points at the copy: a move)",
    )
    copy.set_defaults(handler="kbqa.cli.kb:copy")
    remove = actions.add_parser("remove", help="remove one file from a knowledge base")
    remove.add_argument(
        "source",
        help="the file's path as listed by `kbqa kb show`, its name, or the path it was "
        "ingested from",
    )
    remove.add_argument("--kb", help="knowledge base name (default: 'default')")
    remove.set_defaults(handler="kbqa.cli.kb:remove_file")
    delete = actions.add_parser("delete", help="delete a knowledge base and everything in it")
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler="kbqa.cli.kb:delete")
    check = actions.add_parser(
        "check", help="say what is damaged or inconsistent in a knowledge base (exit 1 if any)"
    )
    check.add_argument("name", nargs="?", help="default: 'default'")
    check.set_defaults(handler="kbqa.cli.kb:check")
    repair = actions.add_parser(
        "repair",
        help="rebuild a knowledge base's damaged indexes from its records, or say what must be "
        "ingested again",
    )
    repair.add_argument("name", nargs="?", help="default: 'default'")
    repair.set_defaults(handler="kbqa.cli.kb:repair")


def list_bases(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.errors import KnowledgeBaseDamaged
    from kbqa.ingest import counted
    from kbqa.knowledge_base import KnowledgeBase

    settings = load_settings(args)
    rows = []
    for name in KnowledgeBase.list_names(settings):
        try:
            kb = KnowledgeBase.open(name, settings)
            try:
                row = {
                    "name": name,
                    "files": len(kb.files()),
                    "chunks": kb.count_chunks(),
                    "embedder": kb.store.get_meta("embedder"),
                }
            finally:
                kb.close()
        except KnowledgeBaseDamaged as error:  # one damaged base must not hide the others
            row = {"name": name, "damaged": str(error)}
        rows.append(row)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif not rows:
        print(f"no knowledge bases in {settings.kb_root}")
    else:
        for row in rows:
            if "damaged" in row:
                print(f"{row['name']}\tDAMAGED: {row['damaged']}")
                continue
            files, chunks = counted(row["files"], "file"), counted(row["chunks"], "chunk")
            print(f"{row['name']}\t{files}\t{chunks}\t{row['embedder']}")
    return 0


def show(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.ingest import counted
    from kbqa.knowledge_base import KnowledgeBase

    settings = load_settings(args, kb=args.name)
    kb = KnowledgeBase.open(settings.kb, settings)
    info = kb.info()
    files = [
        {
            "path": f.doc,
            "chunks": f.chunks,
            "pages": f.pages,
            "sha256": f.sha256,
            "size": f.size,
            "added": datetime.datetime.fromtimestamp(f.added_at).isoformat(timespec="seconds"),
        }
        for f in kb.files()
    ]
    if args.json:
        print(json.dumps({**info, "file_list": files}, ensure_ascii=False, indent=2))
        return 0
    total = f"{counted(info['files'], 'file')}, {counted(info['chunks'], 'chunk')}"
    print(f"{info['name']}: {total} ({info['path']})")
    for key, value in info["manifest"].items():
        if key == "embedder_fingerprint":  # a vector: its size says what it is (--json has it)
            value = f"{value.count(',') + 1} values of the probe vector"
        print(f"  {key}: {value}")
    for f in files:
        pages = f" {counted(f['pages'], 'page')}" if f["pages"] else ""
        print(f"  {f['path']}\t{counted(f['chunks'], 'chunk')}{pages}\tsha256 {f['sha256'][:12]}")
    return 0


def _store_choice(settings, uri: str | None):
    """The store settings a `--store`/`--to` URI names ('embedded': the default in-folder one)."""
    if uri is None:
        return settings.store
    return settings.store.model_copy(update={"uri": "" if uri in {"", "embedded"} else uri})


def create(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.ingest import counted
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.store.remote import redact

    settings = load_settings(args)
    settings = settings.model_copy(update={"store": _store_choice(settings, args.store)})
    existed = KnowledgeBase.exists(args.name, settings)
    kb = KnowledgeBase.create(args.name, settings)
    try:
        where = redact(settings.store.uri) if settings.store.uri else str(kb.path)
        if existed:
            print(f"knowledge base {args.name!r} already exists ({where})")
        elif kb.store.new:
            print(f"created knowledge base {args.name!r} on {where}")
        else:
            chunks = counted(kb.count_chunks(), "chunk")
            print(f"attached to knowledge base {args.name!r} on {where} ({chunks} there)")
    finally:
        kb.close()
    return 0


def copy(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.ingest import counted
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.store.remote import redact

    settings = load_settings(args)
    choice = _store_choice(settings, args.to)
    report = KnowledgeBase.copy(
        args.name,
        choice,
        as_name=args.as_name,
        settings=settings,
        progress=lambda doc: print(f"  copied {doc}", flush=True),
    )
    where = redact(choice.uri) if choice.uri else "the embedded store"
    what = f"{counted(report.files, 'file')}, {counted(report.chunks, 'chunk')}"
    if args.as_name in {None, args.name}:
        print(f"moved {args.name!r} to {where} ({what}, not re-embedded); the original is deleted")
    else:
        print(f"copied {args.name!r} to {args.as_name!r} on {where} ({what}, not re-embedded)")
    return 0


def remove_file(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.ingest import counted
    from kbqa.knowledge_base import KnowledgeBase

    settings = load_settings(args, kb=args.kb)
    kb = KnowledgeBase.open(settings.kb, settings)
    removed = kb.remove(args.source)
    print(f"removed {args.source} ({counted(removed, 'chunk')}) from {kb.name!r}")
    return 0


def delete(args: argparse.Namespace) -> int:
    import sys

    from kbqa.cli import load_settings
    from kbqa.knowledge_base import KnowledgeBase

    settings = load_settings(args)
    if not args.yes:
        if not sys.stdin.isatty():
            print("kbqa: refusing to delete without --yes (no terminal to ask)", file=sys.stderr)
            return 2
        answer = input(f"delete knowledge base {args.name!r} and all its data? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("not deleted")
            return 1
    KnowledgeBase.delete(args.name, settings)
    print(f"deleted knowledge base {args.name!r}")
    return 0


def check(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.health import check_knowledge_base

    settings = load_settings(args, kb=args.name)
    problems = check_knowledge_base(settings.kb, settings)
    if not problems:
        print(f"{settings.kb}: ok (records, lexical index, dense index, embedder)")
        return 0
    print(f"{settings.kb}: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
    for problem in problems:
        how = "repairable" if problem.repairable else "not repairable"
        print(f"  {problem} ({how})")
    if all(problem.repairable for problem in problems):
        print(f"run `kbqa kb repair {settings.kb}` to rebuild from the records")
    return 1


def repair(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.health import repair_knowledge_base

    settings = load_settings(args, kb=args.name)
    found, remaining = repair_knowledge_base(settings.kb, settings)
    if not found:
        print(f"{settings.kb}: nothing to repair")
        return 0
    for problem in found:
        print(f"  rebuilt: {problem}")
    if remaining:
        for problem in remaining:
            print(f"  still wrong: {problem}")
        return 1
    print(f"{settings.kb}: repaired; `kbqa kb check {settings.kb}` finds nothing wrong")
    return 0
