import pytest

from docproc_assets.core.metrics import accuracy, agreement, anls, answer_found, bag_of_words_f1, normalise


def test_normalisation_is_nfc_and_whitespace():
    assert normalise("Cafe\u0301  au\n\tlait ") == "Café au lait"
    assert normalise("Hello, World!", loose=True) == "hello world"


def test_perfect_and_known_errors():
    perfect = accuracy("The quick brown fox", "The  quick\nbrown fox")
    assert perfect.cer == 0 and perfect.wer == 0 and perfect.bow_f1 == 1
    one_char = accuracy("abcdefghij", "abcdefghiX")
    assert one_char.cer == pytest.approx(0.1) and one_char.wer == 1.0
    words = accuracy("one two three four", "one two tree four")
    assert words.wer == pytest.approx(0.25)


def test_case_and_punctuation_only_count_in_the_strict_variant():
    a = accuracy("Hello, World.", "hello world")
    assert a.cer > 0 and a.cer_loose == 0 and a.wer_loose == 0


def test_bag_of_words_ignores_column_order():
    ref = "left column words here right column other words"
    swapped = "right column other words left column words here"
    a = accuracy(ref, swapped)
    assert a.bow_f1 == 1.0 and a.wer > 0.5
    assert bag_of_words_f1("a b", "c d") == 0


def test_empty_texts():
    assert accuracy("", "").cer == 0
    assert accuracy("text", "").cer == 1.0


def test_docvqa_answers():
    text = "Invoice number: 4711. Total due $1,250.00 by March 3"
    assert answer_found(["4711"], text) and answer_found(["march 3"], text)
    assert not answer_found(["4712"], text)
    assert anls(["1,250.00"], "1,250.00") == 1.0 and anls(["abc"], "xyz") == 0.0


def test_agreement():
    assert agreement("Same text", "same text!") == 1.0
    assert 0 < agreement("abcdef", "abcxyz") < 1


def test_dot_leaders_are_typography_not_text():
    from docproc_assets.core.metrics import accuracy, normalise

    assert normalise("2.1 Naming . . . . . . . . 3\n3 Utilities........ 5") == "2.1 Naming 3 3 Utilities 5"
    assert accuracy("2.1 Naming . . . . . . . . . . . . 3", "2.1 Naming .. 3").cer == 0.0  # what OCR leaves of them
    assert normalise("e.g. the end. Total 1,284.50") == "e.g. the end. Total 1,284.50"  # real dots stay
