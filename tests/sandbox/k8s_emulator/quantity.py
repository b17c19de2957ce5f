"""Kubernetes resource quantities (``250m``, ``512Mi``, ``2Gi``, ``1e3``)."""

import decimal
import re

QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY = re.compile(QUANTITY_PATTERN)
_SUFFIXES = {
    "": 1, "n": decimal.Decimal("1e-9"), "u": decimal.Decimal("1e-6"), "m": decimal.Decimal("1e-3"),
    "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18,
    "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
}
PARSE_ERROR = "quantities must match the regular expression '%s'" % QUANTITY_PATTERN


class QuantityError(ValueError):
    """The text is not a quantity (the apiserver rejects the whole body when decoding)."""


def parse(value):
    """The quantity as a Decimal, raising :class:`QuantityError` like ``resource.ParseQuantity``."""
    if isinstance(value, bool):
        raise QuantityError(PARSE_ERROR)
    if isinstance(value, (int, float)):
        return decimal.Decimal(str(value))
    text = str(value)
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(PARSE_ERROR)
    number, suffix = match.groups()
    try:
        base = decimal.Decimal(number)
    except decimal.InvalidOperation as exc:
        raise QuantityError(PARSE_ERROR) from exc
    if suffix in _SUFFIXES:
        return base * _SUFFIXES[suffix]
    if suffix[:1] in ("e", "E"):
        try:
            return base * (decimal.Decimal(10) ** int(suffix[1:]))
        except ValueError as exc:
            raise QuantityError(PARSE_ERROR) from exc
    raise QuantityError("unable to parse quantity's suffix")


def try_parse(value, default=decimal.Decimal(0)):
    """:func:`parse` returning ``default`` instead of raising."""
    try:
        return parse(value)
    except QuantityError:
        return default
