"""Prices in English, Chinese and Vietnamese; ratios, grades, dates and phone numbers are not prices."""

from __future__ import annotations

import pytest

from livewarden.detectors.prices import chinese_number, find_prices


@pytest.mark.parametrize("text, amount, currency, span", [
    ("only $199 today", 199, "USD", "$199"),
    ("US$ 1,299.99 for the set", 1299.99, "USD", "US$ 1,299.99"),
    ("20 dollars each", 20, "USD", "20 dollars"),
    ("USD 45", 45, "USD", "USD 45"),
    ("price 99.9", 99.9, None, "99.9"),
    ("¥99包邮", 99, "CNY", "¥99"),
    ("99元一件", 99, "CNY", "99元"),
    ("三百块", 300, "CNY", "三百块"),
    ("三百五块钱", 350, "CNY", "三百五块钱"),
    ("两千元", 2000, "CNY", "两千元"),
    ("九块九包邮", 9.9, "CNY", "九块九"),
    ("到手价三百", 300, "CNY", "三百"),
    ("giá 199k", 199_000, "VND", "199k"),
    ("1tr2 thôi", 1_200_000, "VND", "1tr2"),
    ("2 triệu", 2_000_000, "VND", "2 triệu"),
    ("2tr", 2_000_000, "VND", "2tr"),
    ("1.5 triệu", 1_500_000, "VND", "1.5 triệu"),
    ("1,5 triệu", 1_500_000, "VND", "1,5 triệu"),
    ("1.299.000đ", 1_299_000, "VND", "1.299.000đ"),
    ("500.000 VND", 500_000, "VND", "500.000 VND"),
])
def test_one_price(text, amount, currency, span):
    (p,) = find_prices(text)
    assert (p.amount, p.currency, p.span) == (pytest.approx(amount), currency, span)
    assert text[p.start:p.end] == span


@pytest.mark.parametrize("text", ["rep 1:1 AAA", "call 0912345678", "size 38", "on 2024-05-01", "50% off",
                                  "10k followers", "12/05 at 20:00"])
def test_not_prices(text):
    assert find_prices(text) == []


def test_several_prices_in_one_line():
    assert [p.amount for p in find_prices("retail $300, today $199")] == [300, 199]


def test_chinese_numerals():
    assert [chinese_number(s) for s in ["三百", "三百五", "两千", "一千二", "十五", "三十八", "一万二", "一百零五"]] == \
        [300, 350, 2000, 1200, 15, 38, 12000, 105]


def test_chinese_numeral_lookalikes_are_not_prices_and_never_raise():
    for text in ["百块钱的东西", "十十块", "千万元", "万元户"]:  # no number before the unit: nothing, and no crash
        assert find_prices(text) == [], text
    assert chinese_number("一百零五") == 105


@pytest.mark.parametrize("text, amount", [("两千元一个", 2000), ("五块一瓶", 5), ("三块五一瓶", 3.5), ("九块九包邮", 9.9)])
def test_a_count_after_the_unit_is_not_its_jiao(text: str, amount: float):
    assert [p.amount for p in find_prices(text)] == [amount]

