import pytest

from fegan.datasets.ravdess import InvalidName, format_name, parse_name


def test_roundtrip_and_labels():
    n = parse_name("01-01-05-02-01-02-13")
    assert (n.modality, n.vocal_channel, n.emotion, n.intensity, n.statement, n.repetition, n.actor) == \
        (1, 1, 5, 2, 1, 2, 13)
    assert n.emotion_name == "angry" and n.gender == "male"
    assert parse_name("01-01-01-01-02-01-08").gender == "female"
    assert n.relpath == "Actor_13/01-01-05-02-01-02-13.mp4"
    m = format_name(emotion=5, intensity=2, statement=1, repetition=2, actor=13)
    assert m == n and m.stem == "01-01-05-02-01-02-13"


@pytest.mark.parametrize("stem, why", [
    ("01-01-05-02-01-02", "not a RAVDESS name"),
    ("1-01-05-02-01-02-13", "not a RAVDESS name"),
    ("04-01-05-02-01-02-13", "modality"),
    ("01-03-05-02-01-02-13", "vocal channel"),
    ("01-01-09-01-01-01-13", "emotion"),
    ("01-01-01-02-01-01-13", "strong intensity for neutral"),
    ("01-01-03-01-03-01-13", "statement"),
    ("01-01-03-01-01-03-13", "repetition"),
    ("01-01-03-01-01-01-00", "actor"),
])
def test_invalid_names_say_why(stem, why):
    with pytest.raises(InvalidName, match=why):
        parse_name(stem)
