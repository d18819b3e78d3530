"""Chinese speech read by sound: a term the recogniser spelled as its homophone is the term, in speech only."""

from livewarden.detectors.homophones import Homophones
from livewarden.detectors.language import LanguageDetector, matcher_for
from livewarden.model import TextLine
from livewarden.registry import Registry


def test_a_run_that_sounds_like_a_term_is_respelled_keeping_every_offset():
    h = Homophones({"一比一": 0.9, "高仿": 0.95, "篙仿": 0.45})
    heard = "这个包序高访的，一笔衣服"  # what Whisper base wrote for a synthetic 高仿 ... 一比一
    spelled = h.respell(heard)
    assert spelled == "这个包序高仿的，一比一服" and len(spelled) == len(heard)
    assert h.respell("高房价涨了") == "高房价涨了"  # gao1 fang2: the tone differs from 高仿's gao1 fang3
    assert h.respell("hello 一 world") == "hello 一 world"  # a lone character is no variant


def test_characters_that_already_spell_a_term_are_not_read_as_a_heavier_one():
    h = Homophones({"精仿": 0.95, "精纺": 0.3})  # jing1 fang3, both: worsted wool and a fine copy
    assert h.respell("这是精纺羊毛") == "这是精纺羊毛"
    assert h.respell("这是晶仿的") == "这是精仿的"  # a spelling the lexicon does not know: the heavier term


def test_a_character_is_read_as_in_its_context_not_by_every_reading():
    """From the dev sets: 的 can be read di2, and allowing that made 品牌方的 sound like 品牌仿的."""
    matcher = matcher_for(())
    line = "我们每一件都有专柜发票和品牌方的授权书"
    assert not matcher.assess(line, heard=True).offer
    assert all(not h.homophone for h in matcher.find(line, heard=True))


def test_speech_is_read_by_sound_and_typed_text_is_not():
    matcher = matcher_for(())
    heard = "这款包式高访的一笔衣服课和整品一模一样"  # Whisper base, from a synthetic Mandarin offer
    assert not matcher.assess(heard).offer  # typed, these are other words
    assessment = matcher.assess(heard, heard=True)
    assert assessment.offer
    by_span = {h.span: h for h in assessment.hits}
    assert by_span["高访"].normalized == "高仿" and by_span["高访"].homophone
    assert by_span["一笔衣"].normalized == "一比一" and by_span["一笔衣"].homophone


def test_a_negation_still_holds_over_a_respelled_term():
    assessment = matcher_for(()).assess("我们不卖一笔衣的", heard=True)
    assert not assessment.offer and assessment.hits and all(h.negated for h in assessment.hits)


def test_the_seller_said_it_evidence_shows_what_was_written_and_what_it_sounds_like():
    detector = LanguageDetector(Registry(), classifier=None)
    said = "这个是高访的包"
    spoken = detector.read(TextLine("r", 12.0, "speech", said, language="zh"))
    offer = next(s for s in spoken if s.kind == "counterfeit_talk")
    assert (offer.evidence["span"], offer.evidence["normalized"], offer.evidence["homophone"]) == ("高访", "高仿", True)
    line = next(s for s in spoken if s.kind == "text_line")
    assert line.evidence["language"] == "zh" and line.evidence["flags"][0]["homophone"] is True
    typed = detector.read(TextLine("r", 12.0, "chat", said, role="seller"))
    assert not any(s.kind == "counterfeit_talk" for s in typed)  # typed, 高访 is "a high-level visit"
