"""Licence plates: Singapore-style private-car plates, generated and validated.

A Singapore private-car plate is `S`, two further letters, a number from 1 to 9999 written
without leading zeros, and a checksum letter, e.g. `SBS3229P`. The checksum (the LTA
algorithm): take the last two prefix letters (A=1 ... Z=26) and the number left-padded to four
digits, weight the six values by (9, 4, 5, 4, 3, 2), sum, and index the sum mod 19 into
`SG_CHECKSUM_LETTERS`.

Rules chosen here beyond that:
- Only three-letter `S` prefixes (private cars) are supported; the two letters after `S` are
  A-Z without I and O (they are never issued, being easily confused with 1 and 0). Generation
  never produces them and validation rejects them.
- Validation is strict: uppercase ASCII, no spaces or separators; non-strings are invalid.
- Locations that do not require Singapore plates use `is_acceptable_plate`: any non-empty,
  printable (`str.isprintable`) string of at most 16 characters that is not only whitespace.

`sg_plates` is the vectorised generator for bulk simulation; `SingaporePlateProvider` is the
Faker provider for one-off plates. `validate_plates` applies either rule to a whole column.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd
from faker.providers import BaseProvider

SG_CHECKSUM_LETTERS = "AZYXUTSRPMLKJHGEDCB"
SG_PREFIX_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # A-Z without I and O
MAX_PLATE_LENGTH = 16
PlateRule = Literal["any", "sg"]

_WEIGHTS = (9, 4, 5, 4, 3, 2)  # letter 2, letter 3, then the four padded digits
_SG_PREFIX = re.compile(r"S[A-HJ-NP-Z]{2}")
_SG_PLATE = re.compile(r"(S[A-HJ-NP-Z]{2})([1-9][0-9]{0,3})([A-Z])")
_SG_MIN_LENGTH = 5  # S + two letters + one digit + checksum
_SG_MAX_LENGTH = 8  # S + two letters + four digits + checksum

# Unicode code points as arrays, for the vectorised paths.
_PREFIX_CODES = np.frombuffer(SG_PREFIX_LETTERS.encode("utf-32-le"), dtype=np.uint32)
_CHECKSUM_CODES = np.frombuffer(SG_CHECKSUM_LETTERS.encode("utf-32-le"), dtype=np.uint32)
_ORD_A, _ORD_Z, _ORD_I, _ORD_O = ord("A"), ord("Z"), ord("I"), ord("O")
_ORD_0, _ORD_1, _ORD_9, _ORD_S = ord("0"), ord("1"), ord("9"), ord("S")


def _checksum_index(letter2, letter3, number):
    """`sum mod 19` for letter values (A=1 ... Z=26) and numbers 1..9999; scalars or arrays."""
    return (
        _WEIGHTS[0] * letter2
        + _WEIGHTS[1] * letter3
        + _WEIGHTS[2] * (number // 1000)
        + _WEIGHTS[3] * (number // 100 % 10)
        + _WEIGHTS[4] * (number // 10 % 10)
        + _WEIGHTS[5] * (number % 10)
    ) % 19


def sg_checksum(prefix: str, number: int) -> str:
    """The checksum letter of the plate `prefix` + `number` (e.g. `("SBS", 3229)` -> `"P"`).

    `prefix` must be `S` plus two letters from `SG_PREFIX_LETTERS`; `number` an int 1..9999.
    Anything else raises `ValueError`.
    """
    if not isinstance(prefix, str) or _SG_PREFIX.fullmatch(prefix) is None:
        raise ValueError(
            f"prefix must be 'S' and two uppercase letters other than I and O: {prefix!r}"
        )
    if isinstance(number, bool) or not isinstance(number, int | np.integer):
        raise ValueError(f"number must be an integer: {number!r}")
    if not 1 <= number <= 9999:
        raise ValueError(f"number must be between 1 and 9999: {number!r}")
    letter2 = ord(prefix[1]) - _ORD_A + 1
    letter3 = ord(prefix[2]) - _ORD_A + 1
    return SG_CHECKSUM_LETTERS[_checksum_index(letter2, letter3, int(number))]


def is_valid_sg_plate(plate: str) -> bool:
    """Whether `plate` is a Singapore private-car plate with the right checksum.

    Uppercase only, no spaces; the prefix letters after `S` exclude I and O.
    """
    if not isinstance(plate, str):
        return False
    match = _SG_PLATE.fullmatch(plate)
    if match is None:
        return False
    prefix, digits, check = match.groups()
    return sg_checksum(prefix, int(digits)) == check


def is_acceptable_plate(plate: str) -> bool:
    """The rule for locations that do not require Singapore plates.

    Non-empty, printable characters only (`str.isprintable`, so no newlines, tabs or NULs), at
    most `MAX_PLATE_LENGTH` characters, and not only whitespace.
    """
    return (
        isinstance(plate, str)
        and 0 < len(plate) <= MAX_PLATE_LENGTH
        and plate.isprintable()
        and not plate.isspace()
    )


class SingaporePlateProvider(BaseProvider):
    """Faker provider: `fake.add_provider(SingaporePlateProvider); fake.sg_license_plate()`.

    Draws from the generator's own random state, so `fake.seed_instance(...)` makes it
    reproducible.
    """

    def sg_license_plate(self) -> str:
        """A valid Singapore private-car plate, e.g. `SBS3229P`."""
        prefix = (
            "S" + self.random_element(SG_PREFIX_LETTERS) + self.random_element(SG_PREFIX_LETTERS)
        )
        number = self.random_int(1, 9999)
        return f"{prefix}{number}{sg_checksum(prefix, number)}"


def sg_plates(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` valid Singapore private-car plates as a `<U8` array, without a Python loop per plate.

    The two letters after `S` are uniform over `SG_PREFIX_LETTERS`, the number uniform over
    1..9999. The result is a pure function of `rng`'s state: it draws an `(n, 2)` array of
    letter indices and then `n` numbers.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer: {n!r}")
    n = int(n)
    letter_codes = _PREFIX_CODES[rng.integers(0, len(_PREFIX_CODES), size=(n, 2))]
    number = rng.integers(1, 10_000, size=n)

    values = letter_codes.astype(np.int64) - (_ORD_A - 1)
    check_codes = _CHECKSUM_CODES[_checksum_index(values[:, 0], values[:, 1], number)]

    # Lay the plates out as UTF-32 code points, one row of 8 per plate; a shorter number leaves
    # trailing NULs, which numpy's fixed-width strings drop.
    n_digits = 1 + (number >= 10) + (number >= 100) + (number >= 1000)
    codes = np.zeros((n, _SG_MAX_LENGTH), dtype=np.uint32)
    codes[:, 0] = _ORD_S
    codes[:, 1:3] = letter_codes
    for position in range(4):  # digit `position` of the number, most significant first
        exponent = n_digits - 1 - position
        present = exponent >= 0
        digit = number // 10 ** np.maximum(exponent, 0) % 10
        codes[:, 3 + position] = np.where(present, _ORD_0 + digit, 0)
    codes[np.arange(n), 3 + n_digits] = check_codes
    return codes.view(f"<U{_SG_MAX_LENGTH}").reshape(n)


def _as_values(plates: np.ndarray | pd.Series) -> np.ndarray:
    values = np.asarray(plates, dtype=object)
    if values.ndim != 1:
        raise ValueError(f"plates must be one-dimensional, got shape {values.shape}")
    return values


def _string_mask(values: np.ndarray) -> np.ndarray:
    """Which elements are `str` (the common all-strings case is checked in C)."""
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return np.ones(len(values), dtype=bool)
    return np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))


def _acceptable_mask(strings: np.ndarray) -> np.ndarray:
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    mask = (lengths > 0) & (lengths <= MAX_PLATE_LENGTH)
    candidates = strings[mask]
    good = ~np.fromiter(map(str.isspace, candidates), dtype=bool, count=len(candidates))
    # There is no vectorised `isprintable`: one call over all of them in the common case.
    if not "".join(candidates).isprintable():
        good &= np.fromiter(map(str.isprintable, candidates), dtype=bool, count=len(candidates))
    mask[mask] = good
    return mask


def _sg_mask(strings: np.ndarray) -> np.ndarray:
    lengths = pd.Series(strings, dtype=object).str.len().to_numpy()
    mask = (lengths >= _SG_MIN_LENGTH) & (lengths <= _SG_MAX_LENGTH)
    candidates = strings[mask]
    if len(candidates) == 0:
        return mask
    # One row of 8 UTF-32 code points per candidate; shorter plates are NUL-padded, and the
    # lengths above (not the padding) say where each plate ends.
    codes = np.asarray(candidates, dtype=f"<U{_SG_MAX_LENGTH}").view(np.uint32)
    codes = codes.reshape(len(candidates), _SG_MAX_LENGTH).astype(np.int64)
    n_digits = lengths[mask].astype(np.int64) - 4
    rows = np.arange(len(candidates))

    def is_digit(code):
        return (code >= _ORD_0) & (code <= _ORD_9)

    letters = codes[:, 1:3]
    ok = codes[:, 0] == _ORD_S
    ok &= np.all((letters >= _ORD_A) & (letters <= _ORD_Z), axis=1)
    ok &= np.all((letters != _ORD_I) & (letters != _ORD_O), axis=1)
    ok &= (codes[:, 3] >= _ORD_1) & (codes[:, 3] <= _ORD_9)  # no leading zero
    number = codes[:, 3] - _ORD_0
    for position in range(1, 4):
        present = position < n_digits
        ok &= ~present | is_digit(codes[:, 3 + position])
        number = np.where(present, number * 10 + codes[:, 3 + position] - _ORD_0, number)
    number = np.where(ok, number, 1)  # keep the arithmetic in range for rejected rows
    values = letters - (_ORD_A - 1)
    expected = _CHECKSUM_CODES[_checksum_index(values[:, 0], values[:, 1], number)]
    ok &= codes[rows, 3 + n_digits] == expected
    mask[mask] = ok
    return mask


def validate_plates(plates: np.ndarray | pd.Series, rule: PlateRule) -> np.ndarray:
    """A boolean mask, one element per plate, of the plates acceptable under `rule`.

    `"sg"` is `is_valid_sg_plate` and `"any"` is `is_acceptable_plate`, element-wise;
    non-strings (None, NaN, numbers) are never acceptable. The result is positional, whatever
    the index of a Series.
    """
    if rule not in ("any", "sg"):
        raise ValueError(f"rule must be 'any' or 'sg': {rule!r}")
    values = _as_values(plates)
    is_string = _string_mask(values)
    mask = np.zeros(len(values), dtype=bool)
    strings = values[is_string]
    mask[is_string] = _acceptable_mask(strings) if rule == "any" else _sg_mask(strings)
    return mask
