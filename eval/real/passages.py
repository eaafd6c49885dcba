"""What a small model's reply opens with, without running the model: for each question of a split,
the retrieval rank of the evidence, the passages `kbqa.chain.extract.answer_passages` quotes from the
top 5 chunks (answer accuracy of those quotes alone, and of the first of them), and the refusal
decision (`chain.relevance.judge`).
Fast (about 20 s a split): the loop the quote and refusal rules were chosen with, on `tune` only.

    KBQA_HOME=/tmp/realhome kbqa ingest eval/real/docs --kb real
    KBQA_HOME=/tmp/realhome python eval/real/passages.py tune [none|terms] [-v]
    KBQA_HOME=/tmp/devhome KBQA_KB=dev python eval/real/passages.py eval/dev/questions.jsonl
"""

import re
import sys
import time
from pathlib import Path

from kbqa.chain.context import ContextItem
from kbqa.chain.extract import answer_passages
from kbqa.chain.retrieve import retrieve
from kbqa.chain.rewrite import Turn, rewrite
from kbqa.eval.dataset import Prediction, read_questions
from kbqa.eval.metrics import answer_matches, first_hit_rank, has_retrieval_truth
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import Settings
from kbqa.text.language import detect_language

split = sys.argv[1] if len(sys.argv) > 1 else "tune"
rerank = sys.argv[2] if len(sys.argv) > 2 else "none"
verbose = "-v" in sys.argv
# a split of this set, or any question file (then the knowledge base is KBQA_KB's, not "real")
path = Path(split) if split.endswith(".jsonl") else Path(__file__).with_name(f"{split}.jsonl")
settings = Settings.load()
kb = KnowledgeBase.open("real" if path.parent == Path(__file__).parent else settings.kb, settings)
qs = read_questions(path)
ranks = []
ok = []  # the quotes of the reply (chain.quotes of them) hold the answer
alone = []  # the first quote alone does
first = []
refused = []
quote_seconds = 0.0  # in answer_passage (sentence vectors mostly cached by the reranker)
t0 = time.perf_counter()
for q in qs:
    turns = []
    for text in q.conversation:
        lang = detect_language(text)
        rw = rewrite(text, turns, lang, mode="history", llm=None, template=None, llm_capable=False)
        boost = turns[-1].sources if rw.follow_up and turns else ()
        hits = (
            kb.search(rw.query, k=10, rerank=rerank)
            if not boost
            else retrieve(kb, rw.query, 10, boost=boost)
        )
        turns.append(
            Turn(
                question=text,
                query=rw.query,
                answer="",
                sources=tuple(dict.fromkeys((h.source, h.page) for h in hits[:1])),
                resolved=rw.question,
            )
        )
    from kbqa.chain.relevance import judge

    rel = judge(rw.question, hits[:5], kb.settings.chain.min_similarity, mentions=kb.mentions)
    refused.append((q.kind == "unanswerable", not rel.relevant, q.id, rel.reason))
    if q.kind == "unanswerable":
        continue
    pred = Prediction.from_hits(q.id, hits)
    rank = first_hit_rank(q, pred.retrieved) if has_retrieval_truth(q) else None
    ranks.append(rank)
    items = [ContextItem(number=i, hit=h, text=h.text) for i, h in enumerate(hits[:5], 1)]
    focus_on = rw.query if rw.question == text else rw.question
    started = time.perf_counter()
    quoted = answer_passages(
        focus_on, items, rw.subject, kb.sentence_cosines, kb.settings.chain.quotes
    )
    quote_seconds += time.perf_counter() - started
    p = quoted[0] if quoted else None
    good = any(answer_matches(q, f"{x.label} {x.text}") for x in quoted)
    ok.append(good)
    alone.append(bool(p) and answer_matches(q, f"{p.label} {p.text}"))
    opening = re.split(r"(?<=[。！？!?])|(?<=[.])\s", p.text, maxsplit=1)[0] if p else ""
    first.append(bool(p) and answer_matches(q, f"{p.label} {opening}"))
    if verbose and (rank != 1 or not good or not first[-1]):
        print(
            f"\n{q.id} rank={rank} ans={'OK' if good else 'NO'} first={'OK' if first[-1] else 'NO'}"
            f" Q={q.question!r} query={rw.query!r}"
        )
        print(f"   want: {q.answers} | ev: {q.evidence[:100]!r} ({q.doc} p{q.page})")
        if hits:
            print(f"   top1: {hits[0].source} p{hits[0].page} {hits[0].text[:120]!r}")
        for x in quoted:
            print(f"   quote[{x.number}] label={x.label!r}: {x.text[:200]!r}")
un = [r for r in refused if r[0]]
an = [r for r in refused if not r[0]]
print(
    "refusal acc",
    sum(r[1] for r in un) / len(un),
    "false refusals",
    sum(r[1] for r in an) / len(an),
)
if verbose:
    for r in refused:
        if r[0] != r[1]:
            print("  REFUSAL MISS" if r[0] else "  FALSE REFUSAL", r[2], r[3])
n = len(ranks)
h1 = sum(1 for r in ranks if r == 1) / n
h5 = sum(1 for r in ranks if r and r <= 5) / n
mrr = sum(1 / r for r in ranks if r) / n
print(
    f"{split} rerank={rerank} n={n} hit@1 {h1:.3f} hit@5 {h5:.3f} MRR {mrr:.3f} quote-answer {sum(ok) / len(ok):.3f} (first quote {sum(alone) / len(alone):.3f}) first-sentence {sum(first) / len(first):.3f} ({time.perf_counter() - t0:.1f}s;"
    f" quote choice {1000 * quote_seconds / len(ok):.0f} ms a question)"
)
