"""Prices said, shown or typed in a room, in English, Chinese and Vietnamese ("$199", "三百五块", "1tr2", "199k").

A price anomaly needs the amount and, when the line gives it, the currency; everything else (which product,
what MSRP) is the policy's business. A number is read as a price only with a currency sign or unit, a
Vietnamese shorthand (k, tr, triệu, củ), or a price cue just before it ("only", "giá", "只要"), so "1:1",
"AAA", sizes, dates and phone numbers are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass



@dataclass(frozen=True)
class Price:
    amount: float
    currency: str | None  # "USD", "CNY", "VND" or None when the line does not say
    start: int
    end: int
    span: str


_NUM = r"\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_NOT_BEFORE = r"(?<![\d.,:/\-])"  # not the tail of a bigger number, ratio, date
_NOT_AFTER = r"(?![\d:/%]|[.,]\d)"
_CN_DIGITS = "零〇一二两三四五六七八九"
_CN = rf"[{_CN_DIGITS}十百千万]+"

_PREFIX_CURRENCY = {"$": "USD", "us$": "USD", "usd": "USD", "¥": "CNY", "￥": "CNY", "rmb": "CNY", "cny": "CNY",
                    "vnd": "VND", "vnđ": "VND", "₫": "VND"}
_SUFFIX = {  # unit -> (currency, multiplier)
    "usd": ("USD", 1), "dollars": ("USD", 1), "dollar": ("USD", 1), "bucks": ("USD", 1),
    "元": ("CNY", 1), "块钱": ("CNY", 1), "块": ("CNY", 1), "塊": ("CNY", 1), "圆": ("CNY", 1), "rmb": ("CNY", 1),
    "cny": ("CNY", 1), "万元": ("CNY", 10_000), "万块": ("CNY", 10_000), "千元": ("CNY", 1000), "千块": ("CNY", 1000),
    "đ": ("VND", 1), "₫": ("VND", 1), "vnd": ("VND", 1), "vnđ": ("VND", 1), "đồng": ("VND", 1), "dong": ("VND", 1),
    "k": (None, 1000), "nghìn": ("VND", 1000), "ngàn": ("VND", 1000), "ng": ("VND", 1000),
    "tr": ("VND", 1_000_000), "triệu": ("VND", 1_000_000), "trieu": ("VND", 1_000_000), "củ": ("VND", 1_000_000),
}
_CUES = r"only|just|now|price|priced at|for|giá|gia|chỉ|chi|chỉ còn|còn|只要|只需|仅需|仅|才|价格|售价|特价|到手价|到手|原价|卖|秒杀价|优惠价|现价|活动价"
_UNIT = "|".join(sorted(map(re.escape, _SUFFIX), key=len, reverse=True))
_NOT_PRICE_AFTER_K = re.compile(r"\s*(followers|views|subs|subscribers|likes|people|members|fans|steps|viewers|mắt|lượt)",
                                re.I)
_VIETNAMESE = re.compile(r"[àáãèéìíòóõùúũýỳĩăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]|\b(gia|ship|nha|nhe|shop|con)\b",
                         re.I)

_FORMS = [
    # 1tr2 = 1.2 million VND, 2tr5, 1tr250
    ("tr", re.compile(rf"{_NOT_BEFORE}(\d+)\s?(?:tr|triệu|củ)\s?(\d{{1,3}})(?![\d.,%]|\s?(?:k|nghìn|ngàn|đ)\b)", re.I)),
    # $199, US$ 1,299.99, ¥99, RMB 99, USD 20, VND 500.000
    ("prefix", re.compile(rf"{_NOT_BEFORE}(us\$|\$|usd|¥|￥|rmb|cny|vnd|vnđ|₫)\s?({_NUM})(?:\s?(k|万|千)\b)?{_NOT_AFTER}",
                          re.I)),
    # 199k, 99元, 2 triệu, 1.299.000đ, 1,5 triệu, 20 dollars, 3块5 / 9块9 (jiao after 块)
    ("suffix", re.compile(rf"{_NOT_BEFORE}({_NUM})\s?({_UNIT})(?:\s?(đ|vnd|vnđ)\b)?(?:(?<=块)(\d)(?!\d))?(?![a-zà-ỹ])", re.I)),
    # 三百, 三百五, 两千, 九块九 with a unit or a cue
    # (the jiao is one digit, and not the count of a measure word: 两千元一个 is 2000 each, not 2000.1)
    ("cn", re.compile(rf"({_CN})\s?(块钱|块|塊|元|圆)([一二两三四五六七八九](?![个件只瓶双盒套支条袋罐斤份台部张箱]))?")),
    ("cn_cue", re.compile(rf"(?:{_CUES})\s?({_CN})(?![\u4e00-\u9fff])")),
    # only 49.99, giá 199 (no currency given)
    ("cue", re.compile(rf"\b(?:{_CUES})\s?:?\s?({_NUM}){_NOT_AFTER}(?!\s?[a-zà-ỹ\u4e00-\u9fff])", re.I)),
]


def find_prices(text: str) -> list[Price]:
    """Every price in `text`, left to right; overlapping readings keep the longest."""
    found: list[Price] = []
    for kind, pattern in _FORMS:
        for m in pattern.finditer(text):
            price = _read(kind, m, text)
            if price is not None:
                found.append(price)
    found.sort(key=lambda p: (p.start, -(p.end - p.start)))
    out: list[Price] = []
    for p in found:
        if not out or p.start >= out[-1].end:
            out.append(p)
    return out


def _read(kind: str, m: re.Match, text: str) -> Price | None:
    if kind == "tr":
        whole, frac = m.group(1), m.group(2)
        return _price(m, float(f"{whole}.{frac}") * 1_000_000, "VND")
    if kind == "prefix":
        mult = {"k": 1000, "万": 10_000, "千": 1000}.get((m.group(3) or "").lower(), 1)
        return _price(m, parse_number(m.group(2)) * mult, _PREFIX_CURRENCY[m.group(1).lower()])
    if kind == "suffix":
        unit = m.group(2).lower()
        currency, mult = _SUFFIX[unit]
        if unit == "k":
            if _NOT_PRICE_AFTER_K.match(text, m.end()):
                return None
            currency = "VND" if m.group(3) or _VIETNAMESE.search(text) else None
        amount = parse_number(m.group(1), decimal_comma=currency == "VND" and mult > 1)
        if m.group(4):  # 3块5 = 3.5
            amount += int(m.group(4)) / 10
        return _price(m, amount * mult, currency)
    try:
        if kind == "cn":
            amount = chinese_number(m.group(1))
            if m.group(3):  # 九块九 = 9.9, 三块五 = 3.5
                amount += chinese_number(m.group(3)) / 10
            return _price(m, amount, "CNY")
        if kind == "cn_cue":
            return _price(m, chinese_number(m.group(1)), "CNY", group=1)
    except ValueError:  # not a number after all ("百块" alone, "十十块")
        return None
    return _price(m, parse_number(m.group(1)), None, group=1)


def _price(m: re.Match, amount: float, currency: str | None, group: int = 0) -> Price | None:
    if amount <= 0:
        return None
    start, end = m.span(group)
    return Price(round(float(amount), 2), currency, start, end, m.string[start:end])


def parse_number(s: str, decimal_comma: bool = False) -> float:
    """'1,299' -> 1299, '1.299.000' -> 1299000, '99.9' -> 99.9, '1,299.99' -> 1299.99; '1,5' -> 1.5."""
    if re.fullmatch(r"\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*", s) and not decimal_comma:
        return float(re.sub(r"[.,]", "", s))
    m = re.fullmatch(r"(\d{1,3}(?:([.,])\d{3})+)([.,])(\d{1,2})", s)
    if m and m.group(2) != m.group(3):
        return float(re.sub(r"[.,]", "", m.group(1)) + "." + m.group(4))
    if re.fullmatch(r"\d{1,3}(?:\.\d{3}){2,}", s):
        return float(s.replace(".", ""))
    return float(s.replace(",", "."))


def chinese_number(s: str) -> float:
    """'三百' -> 300, '三百五' -> 350 (spoken short form), '一百零五' -> 105, '一万二' -> 12000 (cn2an, smart mode).

    ValueError when `s` is not a number ('百', '十十').
    """
    import cn2an  # (loads its tables: ~0.2 s, paid by the first Chinese price, not by every start)

    return float(cn2an.cn2an(s, "smart"))
