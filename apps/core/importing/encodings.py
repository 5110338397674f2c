"""Which encoding a file is in: detected with confidence, or refused naming the line at fault.

Chinese spreadsheet tools save CSV as UTF-8 (with or without a byte-order mark) or as GBK/GB18030. Almost
any byte sequence is valid GB18030, so "it decodes" proves nothing: Big5 `護膚品` decodes as `臔涧珇` and
Latin-1 `crème brûlée` as `cr鑝e br鹟閑`. What tells them apart is what the text reads as:

1. a UTF-16 file (a UTF-16 byte-order mark, or NUL bytes in a quarter of the file) is refused;
2. UTF-8 (a leading byte-order mark dropped) when the whole file is strict UTF-8 — unless it reads only as
   characters between Latin-1 and CJK (Latin Extended, Greek, Cyrillic, Hebrew…) while its GB18030 reading
   is entirely common Chinese (GBK `女` is the bytes of UTF-8 `Ů`);
3. a file with a UTF-8 byte-order mark that is not UTF-8 is refused (a GBK file prefixed with a mark by some
   tool: read as GB18030 its header would start with `锘`);
4. a file of which some lines are UTF-8 (lines with characters of three UTF-8 bytes or more, such as Chinese)
   and others not mixes encodings: refused, naming the first line that is not UTF-8;
5. GB18030, when the file decodes and reads as mainland Chinese text: characters of GB2312's punctuation
   rows and its 6,763 hanzi. Other characters (GBK's rarer hanzi, traditional forms, kana, Greek, Cyrillic,
   private-use characters) are what Big5 or Latin-1 bytes turn into; a name may hold one or two of them, so
   up to 1 plus 2% of the non-ASCII characters are allowed, more are refused naming the first one's line.

`--encoding` (an import's `encoding=`) skips the detection: the file is decoded strictly in that encoding
(a leading UTF-8 byte-order mark dropped) and a byte sequence that is not valid there is an error on its line.
"""

from __future__ import annotations

import codecs
import functools
import re

from django.utils.translation import gettext as _

from apps.core.importing.errors import SourceError

UTF8_BOM = codecs.BOM_UTF8
# Share of the non-ASCII characters (plus one) that may be rare when a file is read as GB18030.
RARE_SHARE = 0.02

# Whole-file checks on valid UTF-8 bytes run as bytes.translate (C speed; a regex over a file of Chinese text
# manages some 50 MB/s): deleting every byte but some leaves those, if any.
# UTF-8 text a Chinese brand's file plausibly holds: anything but C1 controls (C2 80–9F) and the two-byte
# blocks after Latin-1 (Latin Extended, IPA, Greek, Cyrillic, Hebrew, Arabic…: leads C4–DF), which GBK bytes
# often read as.
_BUT_LEADS_C4_DF = bytes(b for b in range(256) if not 0xC4 <= b <= 0xDF)
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")
# Characters of three UTF-8 bytes or more (from U+0800: CJK among them): leads E0–F4.
_BUT_LEADS_E0_F4 = bytes(b for b in range(256) if not 0xE0 <= b <= 0xF4)


def _unusual_utf8(data: bytes) -> bool:
    return bool(data.translate(None, _BUT_LEADS_C4_DF)) or (
        b"\xc2" in data and _C1_UTF8.search(data) is not None
    )


def _wide_utf8(data: bytes) -> bool:
    return bool(data.translate(None, _BUT_LEADS_E0_F4))


def _save_as_utf8() -> str:
    return _("save the file as UTF-8 CSV, or name its encoding with --encoding")


def line_of(data: bytes | str, offset: int) -> int:
    """The physical line (1-based) of a byte or character offset."""
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, offset) + 1


@functools.cache
def _rare_gb18030() -> re.Pattern:
    """Characters that are not ASCII nor among GB2312's punctuation rows (A1–A3) and hanzi (B0–F7)."""
    common = []
    for lead in [*range(0xA1, 0xA4), *range(0xB0, 0xF8)]:
        for trail in range(0xA1, 0xFF):
            try:
                char = bytes((lead, trail)).decode("gb18030")
            except UnicodeDecodeError:
                continue
            if not 0xE000 <= ord(char) <= 0xF8FF:  # unassigned codes decode to private-use characters
                common.append(char)
    return re.compile("[^\\x00-\\x7f" + re.escape("".join(common)) + "]")


def _gb18030_reading(data: bytes) -> tuple[str | None, int | None]:
    """The GB18030 text of `data` and the line of its first rare character when there are too many of them
    (None, line of the first undecodable byte when it is not GB18030 at all)."""
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        return None, line_of(data, exc.start)
    rare = _rare_gb18030()
    first = rare.search(text)
    if first is None:
        return text, None
    count = len(rare.findall(text))
    non_ascii = len(data) - len(text)  # a two-byte character adds one (a four-byte one three: close enough)
    if count <= 1 + RARE_SHARE * non_ascii:
        return text, None
    return text, line_of(text, first.start())


def _first_utf8_line(data: bytes) -> int | None:
    """The first line holding UTF-8 characters of three bytes or more (Chinese, say) that is valid UTF-8.
    (A line of invalid UTF-8 decodes with a replacement character; decoding resynchronises at a line break.)"""
    text = data.decode("utf-8", errors="replace")
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.isascii() and "\ufffd" not in line and max(line) >= "\u0800":
            return number
    return None


def decode(data: bytes, name: str, encoding: str | None = None) -> str:
    """The text of a file's bytes; SourceError when its encoding cannot be told with confidence."""
    if encoding:
        return decode_as(data, name, encoding)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        len(data) >= 4 and data.count(b"\x00") * 4 > len(data)
    ):
        raise SourceError(
            _("%(file)s: the file is UTF-16 text; save it as UTF-8 CSV, or name its encoding with --encoding")
            % {"file": name}
        )
    bom = data.startswith(UTF8_BOM)
    body = data[len(UTF8_BOM) :] if bom else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = line_of(body, exc.start)
    else:
        if bom or not _unusual_utf8(body) or _wide_utf8(body):
            return text
        gb_text, rare_line = _gb18030_reading(body)
        if gb_text is not None and rare_line is None and not _rare_gb18030().search(gb_text):
            return gb_text  # GBK whose every character happens to be valid UTF-8 as well
        return text
    if bom:
        raise SourceError(
            _(
                "not UTF-8, though the file starts with a UTF-8 byte-order mark; save it again as UTF-8 CSV, or "
                "name its encoding with --encoding"
            ),
            line=bad_line,
        )
    utf8_line = _first_utf8_line(body)
    if utf8_line is not None:
        raise SourceError(
            _("not UTF-8, though line %(line)d is: the file mixes encodings; save it again as UTF-8 CSV")
            % {"line": utf8_line},
            line=bad_line,
        )
    text, line = _gb18030_reading(body)
    if text is None:
        raise SourceError(
            _("neither UTF-8 nor GB18030/GBK text; %(advice)s") % {"advice": _save_as_utf8()}, line=line
        )
    if line is not None:
        raise SourceError(
            _(
                "read as GB18030/GBK this line has rare characters, as text in another encoding (Big5, "
                "Latin-1) would; %(advice)s"
            )
            % {"advice": _save_as_utf8()},
            line=line,
        )
    return text


def known_encoding(encoding: str) -> str | None:
    """The codec's canonical name, or None when Python has no text codec of that name."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_as(data: bytes, name: str, encoding: str) -> str:
    """Strict decoding in a named encoding; a leading byte-order mark is dropped."""
    codec = known_encoding(encoding)
    if codec is None:
        raise SourceError(
            _("%(file)s: Unknown encoding: %(encoding)s") % {"file": name, "encoding": encoding}
        )
    if data.startswith(UTF8_BOM) and not codec.startswith("utf-16") and not codec.startswith("utf-32"):
        data = data[len(UTF8_BOM) :]
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(codec, errors="replace").count("\n") + 1
        raise SourceError(_("not valid %(encoding)s text") % {"encoding": encoding}, line=line) from None
    return text.removeprefix("\ufeff")
