"""The Simplified Chinese catalogue is complete, consistent with the domain vocabulary and compiled.

No database is needed: the .po files are read with a tiny parser (polib is not a dependency) and the
committed .mo files are read with the standard library, so a stale .mo is caught too.
"""

from __future__ import annotations

import ast
import gettext as stdlib_gettext
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.utils import translation

LOCALE = Path(__file__).resolve().parents[2] / "locale"
ZH_PO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
ZH_MO = ZH_PO.with_suffix(".mo")
EN_PO = LOCALE / "en" / "LC_MESSAGES" / "django.po"
EN_MO = EN_PO.with_suffix(".mo")


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)  # 0 for a singular msgstr
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.msgid!r} ({', '.join(self.references) or 'no reference'})"


def parse_po(path: Path) -> list[Entry]:
    """Parse a gettext .po file: comments, flags, msgctxt, msgid(_plural), msgstr([n]), continuations.

    Obsolete entries (#~) are ignored. The header (msgid "") is returned as the first entry.
    """
    entries: list[Entry] = []
    entry = Entry()
    target: tuple[str, int] | None = None  # which string a continuation line extends
    seen_msgid = False

    def finish():
        nonlocal entry, target, seen_msgid
        if seen_msgid:
            entries.append(entry)
        entry, target, seen_msgid = Entry(), None, False

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            continue
        if line.startswith("#,"):
            if seen_msgid:
                finish()
            entry.flags.update(flag.strip() for flag in line[2:].split(",") if flag.strip())
            continue
        if line.startswith("#:"):
            if seen_msgid:
                finish()
            entry.references.extend(line[2:].split())
            continue
        if line.startswith("#"):
            if seen_msgid:
                finish()
            continue
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$', line)
        if match:
            keyword, index, literal = match.group(1), match.group(2), match.group(3)
            value = ast.literal_eval(literal)
            if keyword == "msgctxt":
                if seen_msgid:
                    finish()
                entry.msgctxt = value
                target = ("msgctxt", 0)
            elif keyword == "msgid":
                if seen_msgid:
                    finish()
                seen_msgid = True
                entry.msgid = value
                target = ("msgid", 0)
            elif keyword == "msgid_plural":
                entry.msgid_plural = value
                target = ("msgid_plural", 0)
            else:
                slot = int(index) if index is not None else 0
                entry.msgstr[slot] = value
                target = ("msgstr", slot)
            continue
        if line.startswith('"') and target is not None:
            value = ast.literal_eval(line)
            kind, slot = target
            if kind == "msgstr":
                entry.msgstr[slot] += value
            else:
                setattr(entry, kind, getattr(entry, kind) + value)
            continue
        raise AssertionError(f"{path}:{number}: cannot parse {raw!r}")
    finish()
    return entries


def split_header(entries: list[Entry]) -> tuple[Entry, list[Entry]]:
    assert entries and entries[0].msgid == "", "the catalogue has no header entry"
    return entries[0], entries[1:]


# %(name)s, %(seconds).1f, %s, %d … (python-format) and {name} / {0} (python-brace-format); %% is not one.
PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")
BRACE = re.compile(r"\{[^{}\s]*\}")


def placeholders(text: str) -> Counter:
    found = Counter(m for m in PERCENT.findall(text) if m != "%%")
    found.update(BRACE.findall(text))
    return found


@pytest.fixture(scope="module")
def zh_entries() -> list[Entry]:
    return parse_po(ZH_PO)


@pytest.fixture(scope="module")
def zh_messages(zh_entries) -> list[Entry]:
    return split_header(zh_entries)[1]


def test_parser_reads_the_catalogue(zh_messages):
    assert len(zh_messages) > 100
    assert any(entry.msgid == "High value" for entry in zh_messages)


def test_zh_header_has_one_plural_form_and_utf8(zh_entries):
    header, _ = split_header(zh_entries)
    text = header.msgstr[0]
    assert "Plural-Forms: nplurals=1; plural=0;" in text
    assert "charset=UTF-8" in text
    assert "Language: zh_Hans" in text


def test_zh_has_no_fuzzy_entries(zh_entries):
    fuzzy = [entry.where for entry in zh_entries if "fuzzy" in entry.flags]
    assert fuzzy == []


def test_zh_has_no_untranslated_entries(zh_messages):
    untranslated = [
        entry.where
        for entry in zh_messages
        if not entry.msgstr or any(not text.strip() for text in entry.msgstr.values())
    ]
    assert untranslated == []


def test_zh_plural_entries_use_the_single_form(zh_messages):
    for entry in zh_messages:
        if entry.msgid_plural is None:
            assert set(entry.msgstr) == {0}, entry.where
        else:
            assert set(entry.msgstr) == {0}, f"zh has one plural form (msgstr[0] only): {entry.where}"


def test_placeholders_match_the_msgid(zh_messages):
    mismatched = []
    for entry in zh_messages:
        for slot, text in entry.msgstr.items():
            source = entry.msgid if slot == 0 or entry.msgid_plural is None else entry.msgid_plural
            expected = placeholders(source)
            if entry.msgid_plural is not None:
                # a plural msgstr may drop the count from one form, but must not invent placeholders
                expected = placeholders(entry.msgid) | placeholders(entry.msgid_plural)
                if not set(placeholders(text)) <= set(expected):
                    mismatched.append((entry.where, text))
            elif placeholders(text) != expected:
                mismatched.append((entry.where, text))
    assert mismatched == []


def test_python_format_flag_matches_placeholders(zh_messages):
    for entry in zh_messages:
        if re.search(r"%\([^)]*\)", entry.msgid):
            assert "python-format" in entry.flags, entry.where


def test_import_error_prefixes_keep_file_and_line(zh_messages):
    """Messages shaped "%(file)s:%(line)d: reason" keep their "file:line: " prefix so errors stay greppable."""
    prefix = re.compile(r"^%\(file\)s(?::(?:\d+|%\(line\)d))?: ")
    for entry in zh_messages:
        match = prefix.match(entry.msgid)
        if match:
            assert entry.msgstr[0].startswith(match.group(0)), entry.where


def test_leading_and_trailing_whitespace_is_kept(zh_messages):
    for entry in zh_messages:
        text = entry.msgstr[0]
        assert len(text) - len(text.lstrip(" ")) == len(entry.msgid) - len(entry.msgid.lstrip(" ")), (
            entry.where
        )
        assert text.endswith("\n") == entry.msgid.endswith("\n"), entry.where


KEY_TERMS = {
    # value tiers
    "High value": "高价值",
    "Potential value": "潜力价值",
    "Basic value": "基础价值",
    # benefits
    "Exclusive coupon": "专属优惠券",
    "Points multiplier": "积分加倍",
    "Free shipping": "包邮",
    "Early access": "优先购",
    "Priority after-sales service": "优先售后",
    "Gift": "赠品",
    "benefit": "权益",
    "benefit grant": "权益发放",
    "tier": "等级",
    # live streams
    "Live stream": "直播",
    "live stream": "直播",
    "Live streams": "直播",
    "host": "主播",
    "stream view": "观看记录",
    "Stream views": "观看记录",
    "watch time (min)": "观看时长（分钟）",
    "interactions": "互动数",
    "comments": "评论数",
    "likes": "点赞数",
    "shares": "分享数",
    # community, customers, orders, brands
    "community": "社群",
    "Communities": "社群",
    "community membership": "社群成员",
    "customer": "客户",
    "order": "订单",
    "brand": "品牌",
    "membership": "成员身份",
    "role": "角色",
    "Viewer": "查看者",
    "Analyst": "分析师",
    "Manager": "管理者",
    "preferred touch channel": "首选触达渠道",
    "WeCom": "企业微信",
    "Douyin": "抖音",
    "Kuaishou": "快手",
    "Taobao Live": "淘宝直播",
    "WeChat Channels": "微信视频号",
    # lifecycle stages and scores
    "Introduction": "引入期",
    "Growth": "成长期",
    "Maturity": "成熟期",
    "Decline": "衰退期",
    "Churned": "流失期",
    "lifecycle stage": "生命周期阶段",
    "churn probability": "流失概率",
    "CLV": "用户生命周期价值",
    # shared by streams, model runs and export jobs: not 开播时间 (a stream going live), which named a run's start
    "started at": "开始时间",
}


@pytest.mark.parametrize(("msgid", "expected"), sorted(KEY_TERMS.items()))
def test_key_terms_follow_the_domain_vocabulary(msgid, expected):
    with translation.override("zh-hans"):
        assert translation.gettext(msgid) == expected


# Every msgid using the English word must use one of the Chinese terms (identifiers such as customer_id,
# --customers and %(brand)s placeholders are not words to translate).
GLOSSARY = [
    (r"\bbenefits?\b", "权益"),
    (r"\btiers?\b", "等级"),
    (r"\bcommunit(?:y|ies)\b", "社群"),
    (r"\bcustomers?\b", "客户"),
    (
        r"(?<!byte-)\borders?\b",
        ("订单", "客单价"),
    ),  # average order value is 客单价; a byte-order mark is not one
    (r"\bbrands?\b", "品牌"),
    (r"\bstream views?\b", "观看记录"),
    (r"\b(?:live )?streams?\b(?! views?\b)", "直播"),
    (r"\bwatch (?:time|seconds)\b", "观看时长"),
    (r"\btouch(?:es)?\b", "触达"),
    (r"\bhigh value\b", "高价值"),
    (r"\bchurn(?:ed)?\b", "流失"),
    (r"\bCLV\b", "用户生命周期价值"),
    (r"\blifecycle stage\b", "生命周期阶段"),
]
IDENTIFIER = re.compile(r"--[\w-]+|\b\w+_\w+\b")


def test_domain_vocabulary_is_used_consistently(zh_messages):
    problems = []
    for entry in zh_messages:
        words = IDENTIFIER.sub(" ", PERCENT.sub(" ", BRACE.sub(" ", entry.msgid)))
        for pattern, term in GLOSSARY:
            terms = (term,) if isinstance(term, str) else term
            if re.search(pattern, words, flags=re.IGNORECASE) and not any(
                t in entry.msgstr[0] for t in terms
            ):
                problems.append((entry.where, terms, entry.msgstr[0]))
    assert problems == []


def test_model_verbose_names_are_chinese():
    from apps.customers.models import Customer
    from apps.loyalty.models import Benefit, BenefitGrant, Tier
    from apps.streams.models import Stream, StreamView

    expected = {
        Customer: "客户",
        Tier: "等级",
        Benefit: "权益",
        BenefitGrant: "权益发放",
        Stream: "直播",
        StreamView: "观看记录",
    }
    with translation.override("zh-hans"):
        for model, name in expected.items():
            assert str(model._meta.verbose_name) == name
            assert str(model._meta.verbose_name_plural) == name
    with translation.override("en"):
        assert str(Customer._meta.verbose_name) == "customer"


def test_committed_mo_matches_the_po(zh_messages):
    """The .mo is committed for machines without gettext; it must be compiled from the current .po."""
    with ZH_MO.open("rb") as handle:
        catalogue = stdlib_gettext.GNUTranslations(handle)
    stale = []
    for entry in zh_messages:
        if entry.msgid_plural is None:
            got = (
                catalogue.gettext(entry.msgid)
                if entry.msgctxt is None
                else catalogue.pgettext(entry.msgctxt, entry.msgid)
            )
            if got != entry.msgstr[0]:
                stale.append(entry.where)
        else:
            if catalogue.ngettext(entry.msgid, entry.msgid_plural, 1) != entry.msgstr[0]:
                stale.append(entry.where)
    assert stale == [], "run: python manage.py compilemessages --ignore=.venv"


def test_english_catalogue_is_in_sync_and_compiled(zh_messages):
    en_header, en_messages = split_header(parse_po(EN_PO))
    assert "charset=UTF-8" in en_header.msgstr[0]

    def keys(entries):
        return {(e.msgctxt, e.msgid, e.msgid_plural) for e in entries}

    assert keys(en_messages) == keys(zh_messages)
    assert not [e.where for e in en_messages if "fuzzy" in e.flags]
    with EN_MO.open("rb") as handle:
        catalogue = stdlib_gettext.GNUTranslations(handle)
    assert catalogue.gettext("High value") == "High value"
