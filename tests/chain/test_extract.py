"""The passages a source-first reply quotes: the answering line with its option name, or a list
with the sentence that introduces it, and where it lies in the chunk."""

from dataclasses import replace

from kbqa.chain.context import ContextItem
from kbqa.chain.extract import answer_passage, answer_passages, locate
from kbqa.types import Hit

# Laid out as kbqa's man-page text is (eval/real/mantext.py): tag flush with the list, its
# description indented under it.
LOGIND = """选项

    下面的所有选项都位于 "[Login]" 小节：

    NAutoVTs=
        必须设为一个正整数， 表示默认最多可以自动启动多少个虚拟终端。 默认值是 6 。

    InhibitorsMax=
        控制最多允许同时存在多少个 inhibitor 锁。 默认值是 8192 。

    HoldoffTimeoutSec=
        在系统启动或者唤醒之后，忽略休眠键的时长。 默认值是 30 秒。
"""

BLACK = """## Exit codes

Black returns the following exit codes:

- 0 nothing would change
- 1 files would be reformatted
- 123 an internal error occurred

## Other

Black reads pyproject.toml for its settings.
"""


def items(*texts: str) -> list[ContextItem]:
    hits = [
        Hit(text=text, source=f"doc{i}.txt", page=None, score=0.9) for i, text in enumerate(texts)
    ]
    return [ContextItem(number=i, hit=hit, text=hit.text) for i, hit in enumerate(hits, start=1)]


def test_option_description_is_quoted_with_its_option_name():
    passage = answer_passage("InhibitorsMax 的默认值是多少？", items(LOGIND))
    assert passage is not None
    assert passage.label == "InhibitorsMax="
    assert "8192" in passage.text
    start, end = passage.span
    marked = LOGIND[start:end]
    assert marked.startswith("InhibitorsMax=") and "8192" in marked
    # the neighbouring options are not part of it
    assert "NAutoVTs" not in marked and "HoldoffTimeoutSec" not in marked


def test_list_is_quoted_after_the_sentence_that_introduces_it():
    passage = answer_passage("What exit codes does Black return?", items(BLACK))
    assert passage is not None
    assert "123 an internal error occurred" in passage.text
    assert "pyproject" not in passage.text
    start, end = passage.span
    assert BLACK[start:end].startswith("Black returns") and BLACK[start:end].endswith("occurred")


def test_the_chunk_that_answers_is_cited():
    passage = answer_passage("HoldoffTimeoutSec 默认多长？", items(BLACK, LOGIND))
    assert passage is not None and passage.number == 2 and "30" in passage.text


def test_locate_ignores_whitespace_and_reports_none_when_absent():
    text = "a  b\n  c d"
    assert locate("ab c", text) == (0, 8)
    assert locate("x", text) is None


def test_a_table_answer_quotes_its_row_with_the_column_names() -> None:
    table = (
        "| 命令 | 功能 |\n| --- | --- |\n| passwd | 管理账号密码 |\n"
        "| chage | 管理密码有效期信息 |\n| getent group name | 浏览组信息 |"
    )
    prose = "Table 4.3: 管理账号信息的命令。其中的一些功能只能被 root 使用。"
    hits = [
        Hit(text=table, source="ref.pdf", page=111, score=0.91, kind="table", table="Table 4.3"),
        Hit(text=prose, source="ref.pdf", page=111, score=0.90),
    ]
    items = [ContextItem(i + 1, hit, hit.text) for i, hit in enumerate(hits)]
    passage = answer_passage("哪个命令用于管理密码有效期信息？", items)
    assert passage is not None and passage.number == 1
    assert passage.text == "命令：chage；功能：管理密码有效期信息。"
    assert passage.span == locate("| chage | 管理密码有效期信息 |", table)

    english = Hit(
        text="| Command | Description |\n| --- | --- |\n| fdisk | Partition table manipulator |",
        source="fhs.pdf",
        page=23,
        score=0.8,
        kind="table",
    )
    passage = answer_passage(
        "Which command is the partition table manipulator?", [ContextItem(1, english, "")]
    )
    assert passage is not None
    assert passage.text == "Command: fdisk; Description: Partition table manipulator."


def test_an_faq_question_is_quoted_with_the_answer_in_the_next_paragraph():
    faq = (
        "Can I run Orrery on a Raspberry Pi?\n\n"
        "Yes: boards from the model 4 on are supported.\n\n"
        "Does Orrery need a database?\n\nNo."
    )
    passage = answer_passage("Can I run Orrery on a Raspberry Pi board?", items(faq))
    assert passage is not None
    # the question heads the answer like a label: the quote opens with the answer
    assert passage.label == "Can I run Orrery on a Raspberry Pi?"
    assert passage.text == "Yes: boards from the model 4 on are supported."
    span = faq[passage.span[0] : passage.span[1]]
    assert span.startswith("Can I run Orrery") and span.endswith("model 4 on are supported.")


def test_a_wrapped_line_is_neither_a_heading_nor_a_label():
    # hard-wrapped Markdown: the first line looks like a heading, but its sentence goes on
    text = (
        "If the target version is not given, Black reads it from the project file. If this does not\n"
        "yield conclusive results, Black will use per-file auto-detection.\n"
    )
    passage = answer_passage("What does Black do without conclusive results?", items(text[74:]))
    assert passage is not None and passage.label == ""
    assert (
        passage.text
        == "If this does not yield conclusive results, Black will use per-file auto-detection."
    )
    # an option's description, indented under its tag, still has the tag as its label
    tagged = "ndots\n    sets a threshold for the number of dots in a name.\n"
    passage = answer_passage("What threshold does ndots set?", items(tagged))
    assert passage is not None and passage.label == "ndots"


def test_a_question_mark_inside_a_command_or_pattern_ends_no_sentence():
    faq = (
        "C8. Why is NOMAIL an error?\n"
        "If you do not want no mail to be an error condition, add this to the end of the "
        "fetchmail command line, it will change an exit code of 1 to 0:\n"
        "|| [ $? -eq 1 ]\n"
    )
    passage = answer_passage("What do I add so that no mail is not an error for cron?", items(faq))
    assert passage is not None and "|| [ $? -eq 1 ]" in passage.text
    pattern = 'A path like "foo bar" may be selected with a pattern like "foo?bar". Or use quotes.'
    passage = answer_passage("Which pattern selects a path with a space?", items(pattern))
    assert passage is not None and passage.text.startswith(
        'A path like "foo bar" may be selected with a pattern like "foo?bar".'
    )
    # a mark with a space before it is a character the text names, not the sentence's end
    from kbqa.chain.terms import sentences

    assert sentences("Only the wildcards * and ? apply. Others are literal.") == [
        "Only the wildcards * and ? apply.",
        "Others are literal.",
    ]
    assert len(sentences("It may contain the characters + . ~ and is compared. Done.")) == 2


def test_a_part_of_a_chinese_compound_matches_where_the_compound_does_not():
    from kbqa.chain.context import sentence_scores
    from kbqa.chain.terms import compound_parts

    assert compound_parts("默认值") == ["默认"]
    assert compound_parts("默认") == [] and compound_parts("journald") == []
    rows = sentence_scores("ibs 的默认值是多少？", ["一次读 bytes 字节。默认是512。"])[0]
    assert dict(rows)["默认是512。"] > 0
    # where the compound itself is found, its part adds nothing more
    both = dict(sentence_scores("默认值是多少？", ["默认值是512。默认开启。"])[0])
    assert both["默认值是512。"] > both["默认开启。"] > 0


def test_a_page_number_or_running_footer_is_no_label():
    # PDF page text: the line above the paragraph is the page's number or running footer
    for mark in ("14", "Debian 参考手册 139 / 223"):
        page = f"{mark}\nGenerally, all data of a package must be present within /opt/pkg.\n"
        passage = answer_passage("Where must the data of a package be?", items(page))
        assert passage is not None and passage.label == ""
        assert passage.text.startswith("Generally")
    # a short line that is no page mark still labels the paragraph under it
    page = "5.5.3 Fonts\nGenerated fonts must be located in /var/cache/fonts.\n"
    passage = answer_passage("Where must generated fonts be located?", items(page))
    assert passage is not None and passage.label == "5.5.3 Fonts"


def test_a_markdown_section_title_labels_the_paragraph_under_it_across_a_blank_line():
    text = "`APP_WORKERS`\n\nHow many worker processes the tool starts. It defaults to one.\n"
    hit = Hit(text=text, source="usage.md", page=None, score=0.9, heading="Usage > `APP_WORKERS`")
    chunk = [ContextItem(number=1, hit=hit, text=text)]
    passage = answer_passage("How many worker processes does the tool start?", chunk)
    assert passage is not None and passage.label == "`APP_WORKERS`"
    # without a heading saying so, a line across a blank line names nothing (a PDF's last line)
    passage = answer_passage("How many worker processes does the tool start?", items(text))
    assert passage is not None and passage.label == ""


def test_a_numbered_section_heading_is_no_sentence_to_quote():
    # PDF text (FHS 3.0): the headings' numbers end in a dot and the titles hold a colon, so
    # without knowing them the heading was glued to the next heading's number and quoted.
    from kbqa.chain.terms import is_numbered_heading, sentences

    fhs = (
        "5.15. /var/tmp : Temporary files preserved\n"
        "between system reboots\n"
        "5.15.1. Purpose\n"
        "The /var/tmp directory is made available for programs that require temporary files. "
        "Data stored in /var/tmp is more persistent than data in /tmp.\n"
        "Files and directories located in /var/tmp must not be deleted when the system is booted.\n"
    )
    assert sentences(fhs)[:3] == [
        "5.15. /var/tmp : Temporary files preserved between system reboots",
        "5.15.1. Purpose",
        "The /var/tmp directory is made available for programs that require temporary files.",
    ]
    passage = answer_passage("What is the /var/tmp directory for?", items(fhs))
    assert passage is not None and passage.text.startswith("The /var/tmp directory is made")
    assert passage.label == "5.15.1. Purpose"
    assert is_numbered_heading("4.6.4.3 Experimental")
    # a table of contents' dot leaders, an address and a sentence after a version are not
    assert not is_numbered_heading("4.3 Documentation . . . . . . .")
    assert not is_numbered_heading("192.168.212 REJECT")
    assert not is_numbered_heading("2.31 added it. See the notes")
    assert not is_numbered_heading("2.31 added the option.")


def test_an_option_tag_line_is_a_label_not_a_sentence():
    # man-page text: the tag line has commas, so it read as prose and was glued to the first
    # sentence of its description ("SystemMaxUse=, SystemKeepFree= 限制日志文件的大小上限。").
    from kbqa.chain.context import is_fragment
    from kbqa.chain.terms import is_option_tag, sentences

    entry = (
        "    SystemMaxUse=, SystemKeepFree=, RuntimeMaxUse=\n"
        "        限制日志文件的大小上限。 默认值是10%空间与4G空间两者中的较小者。\n"
    )
    assert sentences(entry) == [
        "SystemMaxUse=, SystemKeepFree=, RuntimeMaxUse=",
        "限制日志文件的大小上限。",
        "默认值是10%空间与4G空间两者中的较小者。",
    ]
    assert is_fragment("SystemMaxUse=, SystemKeepFree=, RuntimeMaxUse=")
    passage = answer_passage("SystemMaxUse 不配置时默认是多少？", items(entry))
    assert passage is not None and passage.label == "SystemMaxUse=, SystemKeepFree=, RuntimeMaxUse="
    assert passage.text.startswith("默认值是10%空间")
    assert is_option_tag("-m NUM, --max-count=NUM") and is_option_tag("`-l`, `--line-length`")
    # a description that starts with an option's name is a sentence
    assert not is_option_tag("-c, --count prints only a count of matching lines per file")
    assert not is_option_tag("seek=blocks 在拷贝之前，跳过输出文件的前 blocks 块")


def test_further_passages_come_from_other_chunks_of_the_same_document():
    """After the best passage, the best sentence of each other chunk of its document; a chunk of
    another document is another subject and is never quoted with it."""
    chunks = items(LOGIND, BLACK, "InhibitorsMax= 也可以在 logind.conf.d 中设置，默认值同上。")
    chunks[2] = ContextItem(3, replace(chunks[2].hit, source="doc0.txt"), chunks[2].text)
    question = "InhibitorsMax 的默认值是多少？"
    one = answer_passages(question, chunks)
    assert [p.number for p in one] == [1] and "8192" in one[0].text
    two = answer_passages(question, chunks, limit=2)
    assert [p.number for p in two] == [1, 3] and two[0] == one[0]
    assert "logind.conf.d" in two[1].text
    # Only other documents' chunks left: the reply quotes one passage.
    assert [p.number for p in answer_passages(question, chunks[:2], limit=3)] == [1]
    # Overlapping chunks: the same words are not quoted twice.
    twice = [chunks[0], ContextItem(2, replace(chunks[0].hit, chunk_id="b"), LOGIND)]
    assert len(answer_passages(question, twice, limit=2)) == 1
