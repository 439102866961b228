from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from faker import Faker
from hypothesis import given
from hypothesis import strategies as st

from carpark_dagster.domain.plates import (
    SG_CHECKSUM_LETTERS,
    SG_PREFIX_LETTERS,
    SingaporePlateProvider,
    is_acceptable_plate,
    is_valid_sg_plate,
    sg_checksum,
    sg_plates,
    validate_plates,
)

SG_PLATE_SHAPE = re.compile(r"S[A-HJ-NP-Z]{2}[1-9][0-9]{0,3}[A-Z]")


def reference_checksum(letter2: str, letter3: str, number: int) -> str:
    """The LTA rule written out literally, for any letters A-Z (including I and O)."""
    digits = [int(d) for d in f"{number:04d}"]
    values = [ord(letter2) - ord("A") + 1, ord(letter3) - ord("A") + 1, *digits]
    total = sum(v * w for v, w in zip(values, (9, 4, 5, 4, 3, 2), strict=True))
    return "AZYXUTSRPMLKJHGEDCB"[total % 19]


# --- checksum -------------------------------------------------------------------------------


def test_checksum_letters_constant():
    assert SG_CHECKSUM_LETTERS == "AZYXUTSRPMLKJHGEDCB"
    assert set(SG_PREFIX_LETTERS) == set(string.ascii_uppercase) - {"I", "O"}


@pytest.mark.parametrize(
    ("prefix", "number", "expected"),
    [
        # SBS3229: B=2, S=19; digits 3,2,2,9.
        # 2*9 + 19*4 + 3*5 + 2*4 + 2*3 + 9*2 = 18+76+15+8+6+18 = 141; 141 mod 19 = 8 -> 'P'.
        ("SBS", 3229, "P"),
        # SBA1234: B=2, A=1; digits 1,2,3,4.
        # 2*9 + 1*4 + 1*5 + 2*4 + 3*3 + 4*2 = 18+4+5+8+9+8 = 52; 52 mod 19 = 14 -> 'G'.
        ("SBA", 1234, "G"),
        # SJA7: J=10, A=1; padded digits 0,0,0,7.
        # 10*9 + 1*4 + 0 + 0 + 0 + 7*2 = 90+4+14 = 108; 108 mod 19 = 13 -> 'H'.
        ("SJA", 7, "H"),
        # SZZ9999: Z=26, Z=26; digits 9,9,9,9.
        # 26*9 + 26*4 + 9*5 + 9*4 + 9*3 + 9*2 = 234+104+45+36+27+18 = 464;
        # 464 mod 19 = 464 - 456 = 8 -> 'P'.
        ("SZZ", 9999, "P"),
        # SAA3: A=1, A=1; padded digits 0,0,0,3.
        # 1*9 + 1*4 + 3*2 = 19; 19 mod 19 = 0 -> 'A' (the first letter).
        ("SAA", 3, "A"),
        # SAA11: A=1, A=1; padded digits 0,0,1,1.
        # 1*9 + 1*4 + 1*3 + 1*2 = 18; 18 mod 19 = 18 -> 'B' (the last letter).
        ("SAA", 11, "B"),
    ],
)
def test_hand_worked_checksums(prefix, number, expected):
    assert sg_checksum(prefix, number) == expected
    assert is_valid_sg_plate(f"{prefix}{number}{expected}")


@pytest.mark.parametrize("prefix", ["", "S", "SB", "SBAA", "sba", "Sba", "ABA", "SIA", "SAO", 123])
def test_checksum_rejects_bad_prefix(prefix):
    with pytest.raises(ValueError):
        sg_checksum(prefix, 1234)


@pytest.mark.parametrize("number", [0, -1, 10_000, True, 12.0, "12", None])
def test_checksum_rejects_bad_number(number):
    with pytest.raises(ValueError):
        sg_checksum("SBA", number)


def test_checksum_accepts_numpy_integers():
    assert sg_checksum("SBS", np.int64(3229)) == "P"


# --- the vectorised generator ---------------------------------------------------------------


def test_sg_plates_are_all_valid():
    plates = sg_plates(np.random.default_rng(2024), 10_000)
    assert plates.shape == (10_000,)
    assert plates.dtype == np.dtype("<U8")
    for plate in plates.tolist():
        assert is_valid_sg_plate(plate), plate
        assert SG_PLATE_SHAPE.fullmatch(plate), plate
        assert plate[1] not in "IO" and plate[2] not in "IO", plate
        assert plate[3] != "0", plate
        assert plate[-1] == reference_checksum(plate[1], plate[2], int(plate[3:-1])), plate


def test_sg_plates_distribution():
    plates = sg_plates(np.random.default_rng(7), 10_000).tolist()
    numbers = [int(p[3:-1]) for p in plates]
    assert min(numbers) >= 1 and max(numbers) <= 9999
    # Every number length occurs (one-digit numbers are 9 in 9999, ~9 expected here).
    assert {len(p) for p in plates} == {5, 6, 7, 8}
    for position in (1, 2):
        counts = Counter(p[position] for p in plates)
        assert set(counts) == set(SG_PREFIX_LETTERS)
        # Uniform over 24 letters: ~417 each.
        assert all(300 < c < 550 for c in counts.values()), counts
    # Number roughly uniform: about half below 5000.
    assert 4_700 < sum(n < 5000 for n in numbers) < 5_300


def test_sg_plates_deterministic_per_seed():
    first = sg_plates(np.random.default_rng(11), 1_000)
    again = sg_plates(np.random.default_rng(11), 1_000)
    other = sg_plates(np.random.default_rng(12), 1_000)
    assert first.tolist() == again.tolist()
    assert (first != other).sum() > 900


def test_sg_plates_advances_the_generator():
    rng = np.random.default_rng(5)
    assert sg_plates(rng, 100).tolist() != sg_plates(rng, 100).tolist()


def test_sg_plates_sizes():
    assert sg_plates(np.random.default_rng(0), 0).shape == (0,)
    assert sg_plates(np.random.default_rng(0), np.int64(3)).shape == (3,)
    with pytest.raises(ValueError):
        sg_plates(np.random.default_rng(0), -1)
    with pytest.raises(ValueError):
        sg_plates(np.random.default_rng(0), 2.5)


# --- the Faker provider ---------------------------------------------------------------------


def _faker(seed: int) -> Faker:
    fake = Faker()
    fake.add_provider(SingaporePlateProvider)
    fake.seed_instance(seed)
    return fake


def test_faker_provider_returns_valid_plates():
    fake = _faker(1)
    plates = [fake.sg_license_plate() for _ in range(500)]
    for plate in plates:
        assert isinstance(plate, str)
        assert is_valid_sg_plate(plate), plate
        assert SG_PLATE_SHAPE.fullmatch(plate), plate
        assert plate[-1] == reference_checksum(plate[1], plate[2], int(plate[3:-1])), plate
    assert len(set(plates)) > 490


def test_faker_provider_deterministic_under_seed_instance():
    first = _faker(42).sg_license_plate()
    fake_a, fake_b, fake_c = _faker(42), _faker(42), _faker(43)
    a = [fake_a.sg_license_plate() for _ in range(50)]
    b = [fake_b.sg_license_plate() for _ in range(50)]
    c = [fake_c.sg_license_plate() for _ in range(50)]
    assert a == b
    assert a[0] == first
    assert a != c
    fake_a.seed_instance(42)
    assert [fake_a.sg_license_plate() for _ in range(50)] == a


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plate",
    [
        "SBS3229Q",  # wrong checksum (P is right)
        "SBA1234A",  # wrong checksum (G is right)
        "sbs3229p",  # lowercase
        "SBS3229p",  # lowercase checksum
        "sBS3229P",  # lowercase S
        f"SBA0123{sg_checksum('SBA', 123)}",  # leading zero, otherwise right checksum
        "SBA0G",  # the number 0
        "SBA12345" + reference_checksum("B", "A", 2345),  # five digits
        "BS3229P",  # missing S
        "XBS3229" + reference_checksum("B", "S", 3229),  # another first letter
        "SIA1234" + reference_checksum("I", "A", 1234),  # I in the prefix, right checksum
        "SAO1234" + reference_checksum("A", "O", 1234),  # O in the prefix, right checksum
        "",  # empty
        "SBS 3229P",  # inner space
        " SBS3229P",  # leading space
        "SBS3229P ",  # trailing space
        "SBS3229P\n",  # trailing newline
        "SBS3229",  # no checksum letter
        "SBS32291",  # digit as checksum
        "SBSP",  # no number
        "ＳBS3229P",  # fullwidth S  # noqa: RUF001
        "SBS３229P",  # fullwidth digit  # noqa: RUF001
    ],
)
def test_is_valid_sg_plate_rejects(plate):
    assert not is_valid_sg_plate(plate)
    assert not validate_plates(np.array([plate], dtype=object), "sg")[0]


@pytest.mark.parametrize("plate", [None, 123, b"SBS3229P", float("nan")])
def test_is_valid_sg_plate_rejects_non_strings(plate):
    assert not is_valid_sg_plate(plate)
    assert not is_acceptable_plate(plate)


def test_five_digits_rejected_with_every_checksum_letter():
    assert not any(is_valid_sg_plate(f"SBA12345{letter}") for letter in string.ascii_uppercase)


ACCEPTABLE = ["ABC 123", "6-SLM26", "S0RRL3P", "SBS3229P", "x", "A" * 16, "Émile 42"]
UNACCEPTABLE = ["", "   ", "A" * 17, "ABC\n123", "ABC\x00123", "ABC123\n", "\t", "AB\tC"]


@pytest.mark.parametrize("plate", ACCEPTABLE)
def test_acceptable_plates(plate):
    assert is_acceptable_plate(plate)


@pytest.mark.parametrize("plate", UNACCEPTABLE)
def test_unacceptable_plates(plate):
    assert not is_acceptable_plate(plate)


def test_validate_plates_any():
    plates = [*ACCEPTABLE, *UNACCEPTABLE, None, 7, float("nan")]
    expected = [True] * len(ACCEPTABLE) + [False] * (len(UNACCEPTABLE) + 3)
    mask = validate_plates(np.array(plates, dtype=object), "any")
    assert mask.dtype == bool
    assert mask.tolist() == expected
    series = pd.Series(plates, index=range(100, 100 + len(plates)))
    assert validate_plates(series, "any").tolist() == expected


def test_validate_plates_sg_agrees_with_is_valid_sg_plate():
    generated = sg_plates(np.random.default_rng(3), 2_000).tolist()
    corrupted = [p[:-1] + ("A" if p[-1] != "A" else "B") for p in generated[:500]]
    lowered = [p.lower() for p in generated[:100]]
    plates = [*generated, *corrupted, *lowered, *ACCEPTABLE, *UNACCEPTABLE, None, 1.5]
    expected = [is_valid_sg_plate(p) for p in plates]
    assert sum(expected) == 2_000 + ACCEPTABLE.count("SBS3229P")
    assert validate_plates(np.array(plates, dtype=object), "sg").tolist() == expected
    assert validate_plates(pd.Series(plates), "sg").tolist() == expected
    # A fixed-width numpy array and a pandas string Series work as well.
    strings = [p for p in plates if isinstance(p, str)]
    expected_strings = [is_valid_sg_plate(p) for p in strings]
    assert validate_plates(np.array(strings), "sg").tolist() == expected_strings
    assert validate_plates(pd.Series(strings, dtype="string"), "sg").tolist() == expected_strings


def test_validate_plates_empty_and_errors():
    for rule in ("any", "sg"):
        assert validate_plates(np.array([], dtype=object), rule).tolist() == []
        assert validate_plates(pd.Series([None, None]), rule).tolist() == [False, False]
    with pytest.raises(ValueError):
        validate_plates(np.array(["SBS3229P"]), "uk")
    with pytest.raises(ValueError):
        validate_plates(np.array([["SBS3229P"]]), "sg")


# --- properties -----------------------------------------------------------------------------

prefix_letters = st.sampled_from(SG_PREFIX_LETTERS)
numbers = st.integers(min_value=1, max_value=9999)


@given(prefix_letters, prefix_letters, numbers)
def test_checksum_property(letter2, letter3, number):
    prefix = f"S{letter2}{letter3}"
    check = sg_checksum(prefix, number)
    assert check == reference_checksum(letter2, letter3, number)
    plate = f"{prefix}{number}{check}"
    assert is_valid_sg_plate(plate)
    others = [f"{prefix}{number}{letter}" for letter in string.ascii_uppercase if letter != check]
    assert len(others) == 25
    assert not any(is_valid_sg_plate(other) for other in others)
    assert (
        validate_plates(np.array([plate, *others], dtype=object), "sg").tolist()
        == [True] + [False] * 25
    )


near_plates = st.from_regex(r"[SsX ]?[A-Z0-9IO]{0,3}[0-9]{0,5}[A-Z0-9 ]?\n?", fullmatch=True)
valid_plates = st.builds(
    lambda a, b, n: f"S{a}{b}{n}{sg_checksum(f'S{a}{b}', n)}",
    prefix_letters,
    prefix_letters,
    numbers,
)
any_text = st.text(max_size=20)
elements = st.one_of(valid_plates, near_plates, any_text, st.none(), st.integers())


@given(st.lists(elements, max_size=30))
def test_validate_plates_matches_scalar_rules(plates):
    array = np.array(plates, dtype=object)
    assert validate_plates(array, "sg").tolist() == [is_valid_sg_plate(p) for p in plates]
    assert validate_plates(array, "any").tolist() == [is_acceptable_plate(p) for p in plates]
