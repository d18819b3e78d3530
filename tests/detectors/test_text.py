"""Fraud-language matching: disguises, negations, word boundaries, exact spans, lexicon files."""

from __future__ import annotations

import pytest

from livewarden.detectors.text import LanguageMatcher, Lexicon, LexiconError
from livewarden.detectors.text_normalize import normalize


@pytest.fixture(scope="module")
def matcher() -> LanguageMatcher:
    return LanguageMatcher()


@pytest.mark.parametrize("text", [
    "replica bags 1:1", "r3plica sneakers", "r-e-p bags restocked", "f@ke but premium", "ＲＥＰＬＩＣＡ ＳＡＬＥ",
    "f a k e bags", "fakeeee bags cheap", "rep1ica belts", "REPLlCA hoodies", "re\u200bplica", "fak\u0435 bags",
    "AAA quality handbags", "高仿包包到货了", "高.仿.货 三百块", "gf包包 199", "高仿貨到了", "A货 顶级", "gaofang 手表",
    "hàng rep 1:1 nha", "hang fake loai 1 gia 250k", "h.à.n.g f.a.k.e giá rẻ", "hàng giả nhưng đẹp",
])
def test_disguised_offers_are_found(matcher, text):
    assert matcher.assess(text).offer, matcher.find(text)


@pytest.mark.parametrize("text, negation", [
    ("not fake, 100% authentic", "not"),
    ("we never sell fakes", "never"),
    ("is this fake?", "is this"),
    ("Beware of fakes in this chat", "Beware"),
    ("Report fake sellers to the mods", "Report"),
    ("100% authentic, not replica", "not"),
    ("không phải hàng giả đâu các chị", "không phải"),
    ("cái này có phải hàng fake không shop?", "có phải"),
    ("正品保证，假的包退", "假的包退"),
    ("這是高仿的嗎？", "嗎"),
    ("我们绝不卖假货", "绝不"),
])
def test_negations_cancel(matcher, text, negation):
    a = matcher.assess(text)
    assert not a.offer and a.hits and all(h.negated for h in a.hits)
    assert any(h.negation == negation for h in a.hits)


def test_authenticity_promise_is_not_an_admission(matcher):
    assert not matcher.assess("我们家都是正品，假一赔十").offer
    assert not matcher.assess("正品保证 假一賠十 假的包退").offer


def test_negation_carries_over_a_list(matcher):
    assert not matcher.assess("shop cam kết không bán hàng giả, hàng nhái").offer
    assert matcher.assess("Is this a replica? Yes, AAA quality").offer  # the next clause is not a question


@pytest.mark.parametrize("text", [
    "I had to report my order", "our customer service representative", "we also do repair", "repeat customers",
    "fake tan looks good", "AAA batteries included?", "book a 1:1 session with our stylist", "our sales rep will DM you",
    "my gf loves this brand", "hàng giá rẻ mà chất lượng tốt", "cảm ơn khán giả", "em rep từng bạn một nha",
    "假期快乐", "真的假的，这么便宜",
])
def test_ordinary_lines_do_not_fire(matcher, text):
    assert not matcher.assess(text).offer, matcher.find(text)


def test_hits_point_at_the_exact_original_span(matcher):
    for text, span in [("Buy our ｒ３ｐｌｉｃａ now", "ｒ３ｐｌｉｃａ"), ("ok r-e-p bags!", "r-e-p bags"),
                       ("Hàng Giả đây", "Hàng Giả"), ("这是高 仿貨哦", "高 仿貨"), ("so fakeee", "fakeee")]:
        (hit,) = matcher.find(text)
        assert text[hit.start:hit.end] == hit.span == span


def test_vietnamese_tones_must_agree_where_written(matcher):
    assert matcher.assess("hàng giả").offer and matcher.assess("hang gia").offer
    assert not matcher.assess("hàng giá tốt").offer


def test_normalize_keeps_prices_and_ratios():
    assert normalize("rep 1:1 $199 1.299.000đ 5A").text == "rep 1:1 $199 1.299.000d 5a"
    n = normalize("Ｆａｋｅ")
    assert n.text == "fake" and n.offsets == [0, 1, 2, 3]


def test_user_lexicon_adds_a_term_without_code(tmp_path):
    (tmp_path / "extra.yaml").write_text(
        "lang: en\nterms:\n  - id: grey_market\n    weight: 0.8\n    variants: [\"parallel import copy\"]\n",
        encoding="utf-8")
    m = LanguageMatcher(Lexicon.load(extra_paths=[tmp_path]))
    (hit,) = m.find("this is a parallel import copy")
    assert hit.term_id == "grey_market" and m.assess("Parallel Import COPY!").offer


def test_lexicon_errors_name_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lang: en\nterms:\n  - id: x\n    weight: 2\n    variants: [\"x\"]\n", encoding="utf-8")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("lang: en\nterms:\n  - id: x\n    weight: 1\n    variants: [\"x\"]\n"
                       "negations:\n  - phrases: [\"not\"]\n    terms: [nope]\n", encoding="utf-8")
    with pytest.raises(LexiconError) as exc:
        Lexicon.load(extra_paths=[bad, unknown], builtin=False)
    text = str(exc.value)
    assert f"{bad}:4: terms[0].weight:" in text
    assert f"{unknown}:8: negations[0].terms[0]: unknown term id 'nope'" in text
    broken = tmp_path / "broken.yaml"
    broken.write_text("lang: en\nterms: [\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"broken.yaml:\d+: invalid YAML"):
        Lexicon.load(extra_paths=[broken], builtin=False)


@pytest.mark.parametrize("text", [
    "Room rules: be kind, no spam, no counterfeit links, no begging",
    "Reminder, selling fakes = instant ban from this channel",
    "I'm reporting the account in the comments that keeps selling replica sneakers",
    "直播间规则：禁止发布假货链接，违者踢出",
    "本直播间对高仿零容忍，发现一律拉黑",
    "Nội quy phòng live: cấm bán hàng giả, vi phạm sẽ bị chặn",
])
def test_line_level_warnings_cancel_hits_anywhere_in_the_line(matcher, text):
    a = matcher.assess(text)
    assert not a.offer and a.hits and all(h.negated for h in a.hits), a.hits


def test_line_level_warning_is_switched_off_by_an_offer_in_the_same_line(matcher):
    assert matcher.assess("reps restocked, dm me before they ban me lol").offer


def test_english_cues_do_not_fire_on_vietnamese_words(matcher):
    # "bán" (sell) folds to "ban", an English line-level cue; a cue without marks must not match marked text
    assert matcher.assess("bên em bán hàng rep 1:1 nha").offer


@pytest.mark.parametrize("text", [
    "do u have the 1:1 version cheaper?", "any replicas for under 50?", "where can I get a super copy of this watch",
    "有没有复刻版的？", "高仿的多少钱？", "shop có bản rep 1:1 không?", "bạn ơi có loại super fake không",
])
def test_viewer_questions_asking_to_buy_are_not_offers(matcher, text):
    assert not matcher.assess(text).offer, matcher.find(text)


def test_question_cue_needs_a_question_mark(matcher):
    assert not matcher.assess("any replicas for under 50?").offer
    assert matcher.assess("any replicas you want, 50 each").offer


def test_unless_keeps_an_offer_that_looks_like_a_question(matcher):
    assert not matcher.assess("fake or not? the stitching looks off").offer
    assert matcher.assess("f@ke or not u cant tell, $60 each").offer


def test_spelled_letters_after_the_word_a():
    assert normalize("it's a r e p l i c a").text == "its a replica"
    assert normalize("a a a").text == "aaa" and normalize("f a k e").text == "fake"


def test_variant_han_characters_are_folded(matcher):
    assert normalize("髙仿 倣品 原単").text == "高仿仿品原单"
    assert matcher.assess("髙仿包包到货 私聊").offer and matcher.assess("倣品手表 一只三百").offer


@pytest.mark.parametrize("text", [
    "same factory as the original, just no receipt", "unbranded version available, logo added on request",
    "not from the official store, if you know what I mean", "passes authentication apps every time",
    "MASTER COPY - 7A - $140", "无标版198，标另外发，自己贴一下就行", "这批是同厂同料", "能过得物鉴定，放心拍",
    "非zp哈，介意的别拍", "hàng F1 giống auth tới 99%", "hàng xuất dư, logo y chang chính hãng",
    "không phải auth nha khách, nhưng chất lượng miễn bàn",
])
def test_coded_offers_without_the_usual_words(matcher, text):
    assert matcher.assess(text).offer, matcher.find(text)


@pytest.mark.parametrize("text", [
    "unbranded tote bag, organic cotton", "these silk flowers look so real, nobody can tell",
    "高仿真绿植，放客厅特别好看", "下单后请把原单号发给客服", "官方复刻版球鞋", "仿古家具 实木雕花",
    "hoa giả trang trí tết", "trứng gà loại 1", "đăng ký tư vấn 1:1 với chuyên gia", "bạn này nhái giọng hay quá",
    "not replica, genuine Swiss made", "绝对不是高仿", "bên em không bán hàng loại 1 đâu",
])
def test_weak_terms_substring_traps_and_denials_do_not_fire(matcher, text):
    assert not matcher.assess(text).offer, matcher.find(text)


def test_emoji_inside_a_word_is_dropped():
    assert normalize("r👀pli👀ca").text == "rplica" and normalize("精😂仿").text == "精仿"
    assert normalize("fake 🔥 bags").text == "fake 🔥 bags"  # between words it stays


@pytest.mark.parametrize("text", [
    "r👀eplica watches restocked", "精😂仿包包 三百", "c0py Prada wallet 40 dollars", "仿古驰腰带 九十九", "túi Prada nhái 300k",
    "g f 的包包 三百出头", "fk款 老花 199", "ao nhai Gucci gia re",
])
def test_brand_templates_emoji_and_spoken_initials(matcher, text):
    assert matcher.assess(text).offer, matcher.find(text)


def test_user_lexicon_brands_fill_brand_templates(tmp_path):
    (tmp_path / "b.yaml").write_text(
        "lang: en\nbrands: [\"acme\"]\nterms:\n  - id: acme_copy\n    weight: 0.9\n    variants: [\"knock {brand}\"]\n",
        encoding="utf-8")
    m = LanguageMatcher(Lexicon.load(extra_paths=[tmp_path], builtin=False))
    assert m.assess("KNOCK Acme hoodies").offer and not m.assess("knock knock").offer
    (tmp_path / "b.yaml").write_text(
        "lang: en\nterms:\n  - id: x\n    weight: 0.9\n    variants: [\"copy {brand}\"]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="no file lists brands"):
        Lexicon.load(extra_paths=[tmp_path], builtin=False)


@pytest.mark.parametrize("text", [
    "what does 'UA batch' even mean", "read an article about counterfeit sneakers flooding the market",
    "the fake ones usually have crooked stitching", "看了个测评 高仿的做工太差", "新闻说又查了一批假名牌",
    "xem video so sánh hàng auth với hàng fake", "正品 假的十倍赔你", "nhai kỹ rồi nuốt nhé các bé",
    "1:24 scale diecast replica of the Ferrari", "bathroom mirror quality, no distortion",
    "3 sets of 15 reps with the kettlebell", "莆田荔枝 当季现摘", "Prada authentic with receipt",
])
def test_mentions_discussions_and_legit_contexts_do_not_fire(matcher, text):
    assert not matcher.assess(text).offer, matcher.find(text)


def test_discussion_cue_is_switched_off_by_an_offer(matcher):
    assert matcher.assess("my friend makes these 1:1 copies, dm me").offer


@pytest.mark.parametrize("styled", ["🅵🅰🅺🅴", "🅕🅐🅚🅔", "ꜰᴀᴋᴇ", "⒡⒜⒦⒠", "𝐅𝐀𝐊𝐄", "Ⓕⓐⓚⓔ"])
def test_styled_letters_fold_to_plain(styled):
    assert normalize(f"{styled} bags").text == "fake bags"


def test_starred_vowel_and_dotted_abbreviation(matcher):
    assert matcher.assess("r*plica watches in stock").offer
    assert matcher.assess("hàng s.c về rồi, đẹp lắm").offer  # s.c = siêu cấp
    assert not matcher.assess("u.s. shipping only").offer


def test_one_to_one_spelled_out(matcher):
    assert normalize("the one to one version").text == "the 1:1 version"
    assert normalize("count from one to one hundred").text == "count from one to one hundred"
    assert matcher.assess("one to one copy of the tote").offer
    assert not matcher.assess("we offer one to one styling sessions").offer


def test_vietnamese_shorthand_is_spelled_out(matcher):
    n = normalize("hg rep ko ạ")
    assert n.text == "hang rep khong a"
    assert matcher.assess("hg rep chuẩn, inb nha").offer
    assert matcher.assess("ví ko khác j auth nha").offer  # "không khác gì auth" in teen-code
    assert not matcher.assess("shop có hg rep ko ạ?").offer


def test_vietnamese_tone_on_the_neighbouring_vowel(matcher):
    assert matcher.assess("hàng fake lọai 1 giá tốt").offer  # "lọai" for "loại"
    assert not matcher.assess("thử nhai vài hạt").offer


def test_plural_ies_and_possessive_negation_cues(matcher):
    assert matcher.assess("DESIGNER COPIES FROM $19").offer
    assert not matcher.assess("my sister's 'new' bag was a knockoff, check the serial").offer


def test_brand_nicknames_and_homophones_need_company(matcher):
    assert not matcher.assess("H家的包真好看").offer  # a nickname alone
    assert not matcher.assess("冬季膏方 调理身体").offer  # the herbal paste
    assert not matcher.assess("精纺羊毛大衣 私聊").offer  # worsted wool
    assert matcher.assess("膏方包包到货 私聊").offer
    assert matcher.assess("H家的包 对版 说了直播间就没了").offer


def test_euphemisms_and_platform_evasion_together(matcher):
    assert not matcher.assess("they shut me down last week for no reason").offer
    assert matcher.assess("it's the r word, can't say it on here").offer
    assert matcher.assess("hàng chữ F đó, không được nói trên live").offer


def test_stories_rules_and_discussion_are_not_offers(matcher):
    for text in ["the difference between a dupe and a fake is the logo, dupes are legal",
                 "any comment mentioning replicas will be auto hidden",
                 "dupe comment, sorry, posted twice",
                 "现在的高仿做得真好 但我还是买正品",
                 "我朋友之前买过一个A货 结果用了没多久就坏了",
                 "bạn em năm ngoái mua túi fake, xài 1 tuần đứt quai",
                 "live văn minh, không spam, không rao hàng fake"]:
        assert not matcher.assess(text).offer, (text, matcher.find(text))


def test_vietnamese_question_particles_make_a_question_not_an_offer():
    m = LanguageMatcher()
    for text in ("hàng fake à?", "hang fake a?", "rep 1:1 thật à", "hàng rep 1:1 à shop?"):
        assert not m.assess(text).offer, text
    # a polite "ạ" closing a seller's statement is no question
    assert m.assess("hàng fake loại 1 ạ, ib em").offer and m.assess("hang fake loai 1 a").offer


def test_dot_inside_a_short_word_and_wide_gaps_between_spelled_words(matcher):
    assert normalize("fa.ke Goyard").text == "fake goyard"
    assert normalize("R E P L I C A  P A T E K").text == "replica patek"
    assert matcher.assess("re.p quality slides, DM").offer
    assert matcher.assess("R E P L I C A  P A T E K  $420").offer
    # a dot after a longer word is a sentence end, not a disguise; a web address stays as it is
    assert normalize("www.gucci.com").text == "www.gucci.com"
    assert normalize("its fake.dm me").text == "its fake.dm me"
    assert not matcher.assess("u.s. shipping only").offer


@pytest.mark.parametrize("text, offer", [
    ("AAA+ Rolex Submariner $250", True),  # a grade code next to a brand
    ("triple A Canada Goose parkas", True),
    ("the triple a version of the AP Royal Oak just came in", True),
    ("the knock off Lululemon Align are back, $25 each", True),
    ("knock off work early today, see you tomorrow", False),
    ("not the real deal obviously but these Gucci belts look amazing", True),
    ("you literally can't tell these from retail, Yeezy 350 $90", True),
    ("I can't tell from the photo, is the zipper gold?", False),
    ("AAA+ batteries, pack of 12", False),
    ("can't tell from retail, Moncler jackets $150", True),  # "can't tell from ..."
    ("passes as real, the swoosh and all", True),
    ("this vegan jacket passes as real leather", False),
    ("Not OG but 1 to 1 with OG, $45", True),  # "not OG but", "1:1 with OG"
    ("book a 1 to 1 with our stylist", False),
    ("same bottle same label, we fill it ourselves", True),  # weak packaging claims in company
    ("same bottle, new formula, $20", False),
    ("we fill it ourselves every morning, fresh juice", False),
    ("don't let flashy ads dupe you", False),  # dupe as a verb
    ("dupes aren't fakes, they don't copy the logo", False),
    ("reps are ruining the resale market honestly", False),
    ("it's probably a knockoff, check the seller rating", False),  # a viewer's guess, a warning
    ("if the price is too good to be true it's a knockoff", False),
])
def test_english_grade_codes_lookalike_claims_and_speculation(matcher, text, offer):
    assert matcher.assess(text).offer is offer, matcher.find(text)


@pytest.mark.parametrize("text, offer", [
    ("fang款巴宝莉风衣 私聊", True),  # pinyin inside a code word
    ("莆田精品AJ 支持验货", True),  # 莆田精品 is the goods, not the city
    ("莆田荔枝 支持验货", False),
    ("代工厂同线生产 小黑瓶", True),  # same production line
    ("贴牌耳机 logo照印 五十块", True),  # white-label + logo printed as is
    ("贴牌的耳机 五十块", False),
    ("这个苹果耳机是贴牌的 弹窗动画都有 八十块", True),
    ("外包装跟正品完全一样 价格一半", True),
    ("主播这个包是正品吗？不会是高仿吧", False),  # a viewer's doubt
    ("A货架 五层仓储货架 ¥199", False),  # a shelf
    ("这个玩具枪是一比一仿真模型", False),
    ("复刻外婆的红烧肉味道", False),  # a recipe
    ("复刻LV老花包 私聊", True),
    ("主播学周杰伦唱歌好像啊，高仿周董哈哈哈", False),  # an impression
    ("评论区有人发仿货广告 我们已经举报了 大家不要私聊", False),  # a moderator
    ("高仿包 不要私聊 直接拍", True),
    ("大家千万别在九块九的店买 那种都是假货", False),  # a warning
])
def test_chinese_code_words_comparisons_and_everyday_senses(matcher, text, offer):
    assert matcher.assess(text).offer is offer, matcher.find(text)


@pytest.mark.parametrize("text, offer", [
    ("ban hang rep giay sneaker, lien he zalo", True),  # "bán hàng" without marks is not the English "ban"
    ("cấm bán hàng giả, vi phạm là ban nick", False),
    ("ai mua túi fake không, 890k", True),  # a seller's "who wants one?"
    ("shop có hàng fake không", False),  # a viewer's question
    ("hang fk Converse, 250k", True),  # fk, phây: fake in shorthand and as said
    ("giày phây loại 1 nè", True),
    ("Máy sấy hàng OEM ngoài luồng, có logo đầy đủ, 1tr5", True),  # weak cover stories in company
    ("áo thun có logo công ty", False),
    ("hôm nay tập tay mười hai rep mỗi hiệp", False),  # reps in a workout
    ("lần đầu tiên chị qua Quảng Châu thấy chợ bán đồ nhái", False),  # a story
    ("mấy bạn đừng ham rẻ mua ngoài chợ nha chắc chắn hàng giả đó", False),  # a warning
    ("hàng fake loại 1 giá rẻ, đừng ham rẻ mua chỗ khác, ib em", True),
])
def test_vietnamese_shorthand_cover_stories_and_warnings(matcher, text, offer):
    assert matcher.assess(text).offer is offer, matcher.find(text)


def test_euro_and_bang_between_letters_read_as_e_and_i():
    assert normalize("R€PL!CA Birkin").text == "replica birkin"
    assert normalize("so fake! €50 each").text == "so fake! €50 each"  # at a word's end, before a number: kept


@pytest.mark.parametrize("text, offer", [
    ("R€PL!CA Prada bags, $180", True),
    ("reps of the Stanley cups with the logo, $15 each", True),  # "reps of" next to a brand
    ("three reps of the bench press, then rest", False),
    ("AAA+ designer bags $49", True),
    ("AAA designer of the year award", False),
    ("Goyard totes same as boutique, $120", True),
    ("same as boutique price, no discount sorry", False),
    ("same as the store but not from the store, AirPods Pro $18", True),
    ("same as the store but not in stock there anymore", False),
    ("unauthorized copies, same as boutique pair, $85 shipped", True),  # weak "unauthorized copies" in company
    ("making unauthorized copies of this video is not allowed", False),
    ("factory extras, not from Nike but off the same line, $40", True),
    ("these are not from Nike but from a local running store", False),
    ("I can't say what brand on live or they'll ban me, but it rhymes with shmucci, belts $22", True),
    ("that rhymes with orange", False),
    ("spam fake links and we will ban you", False),  # a moderator's "ban" still cancels
    ("bro my cousin has Gucci ones, logo and all, 1/4 the price, dm", True),  # "dm" at the end is an offer
    ("my cousin got a fake Gucci belt once", False),
    ("Photo prints in 1:1 square format, $14", False),
    ("can't say the brand on here, the little horse logo polos $12 each", True),
])
def test_english_hints_weak_claims_and_formats(matcher, text, offer):
    assert matcher.assess(text).offer is offer, matcher.find(text)


@pytest.mark.parametrize("text, offer", [
    ("dạ hàng F một nha, tai nghe 320k", True),  # F1 as said
    ("Hàng loại 1 Lacoste logo thêu, 150k/áo", True),
    ("gạo loại 1 giá 20k", False),
    ("hàng au xưởng Jordan 4, 980k", True),
    ("xưởng may áo đồng phục nhận đơn", False),
    ("không có hộp không có hóa đơn nên mới rẻ, đồng hồ Omega 1tr5", True),  # each "không có" is its own claim
    ("không có hộp nhưng hàng chính hãng, bảo hành 12 tháng", False),
    ("HÀNG XƯỞNG NIKE – CÓ TEM MÁC", True),
    ("áo đồng phục logo thêu tên công ty", False),
    ("không nói được tên trên live đâu, nhìn logo chữ H là biết, thắt lưng 300k", True),
    ("logo chữ H màu xanh của bệnh viện", False),
    ("các bạn ơi hàng fake xịn nha, kính Ray Ban 120k", True),  # "bạn", "Ray Ban": not the English "ban"
    ("có chị khách kể là mua đồng hồ siêu cấp ở chợ về bị đứng máy, nên quay lại mua bên em hàng chính hãng", False),
    ("ai tự xưng là shop bán hàng siêu cấp là lừa đảo, shop không inbox trước", False),
    ("dupe mỹ phẩm khác hàng fake nha", False),
])
def test_vietnamese_spoken_codes_cover_stories_and_stories(matcher, text, offer):
    assert matcher.assess(text).offer is offer, matcher.find(text)


@pytest.mark.parametrize("text, offer", [
    ("就是诶货的lv钱包 五十九", True),  # A货 as a transcript hears it
    ("这个诶 货到了 快来看", False),  # an interjection
    ("莆tian货 aj1 ¥320", True),
    ("我们家不卖正品的 做工放心 耳环二十九", True),
    ("我们家只卖正品", False),
    ("我们不做正品代购 只做国货", False),
    ("无盒子无发票所以便宜 懂的来 戴森吹风机 ¥299", True),  # each 无 is its own claim
    ("无盒子 所以便宜 二手书十块", False),
    ("工厂货 nike 带logo 129一套", True),
    ("带logo的工作服 可以定制", False),
    ("不能说牌子 看老花你们就知道是谁家的了 一百二十九", True),
    ("平替和假货是两码事好吗", False),
    ("A货和正品差在哪里啊 问问", False),
    ("仿真娃娃 一比一的尺寸 一百二十八", False),
    ("一比一LV包 私聊", True),
    ("复刻了主播上次教的红烧肉 太好吃了", False),
    ("山寨里自己养的土鸡下的蛋", False),
    ("山寨货手机壳 十块", True),
    ("提醒：官方不会私聊卖货，自称'工厂货源'的都是骗子", False),
])
def test_chinese_spoken_codes_cover_stories_and_everyday_senses(matcher, text, offer):
    assert matcher.assess(text).offer is offer, matcher.find(text)


def test_a_hyphen_between_two_words_keeps_them_two_words():
    """Speech recognition writes "triple-replicas"; a seller types "AAA-replica": the term is still whole."""
    m = LanguageMatcher()
    for line, span in (("these are triple-replicas, message me", "replicas"), ("AAA-replica bags in stock", "replica")):
        a = m.assess(line)
        assert a.offer and span in [h.span for h in a.hits], line
    assert not m.assess("the re-port is out, well-made bags from the brand").offer  # no term inside a word
    assert m.assess("fa-ke bags here").offer  # a hyphen inside one word is still a disguise
