"""JavaScript's own rules where Rocket.Chat's answers depend on them: `Number()`, `parseInt(String(n))`, white space
and `trim()`, `String(value)` of a JSON value. Pure: no I/O."""

from __future__ import annotations

import math
import re
from typing import Any, Final

# JavaScript's whitespace (String.prototype.trim, Number()): not quite Python's str.strip().
JS_WHITESPACE: Final = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # noqa: E501
_DECIMAL: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RADIX: Final = {"0x": 16, "0o": 8, "0b": 2}
_RADIX_DIGITS: Final = {16: re.compile(r"[0-9a-fA-F]+"), 8: re.compile(r"[0-7]+"), 2: re.compile(r"[01]+")}


def js_number(text: str) -> float | None:
    """JavaScript's `Number(text)`, or None where it gives NaN."""
    stripped = text.strip(JS_WHITESPACE)
    if not stripped:
        return 0.0
    unsigned = stripped.lstrip("+-")
    if unsigned == "Infinity" and len(stripped) - len(unsigned) <= 1:
        return -math.inf if stripped[0] == "-" else math.inf
    radix = _RADIX.get(stripped[:2].lower())
    if radix is not None:
        digits = stripped[2:]
        return float(int(digits, radix)) if _RADIX_DIGITS[radix].fullmatch(digits) else None
    return float(stripped) if _DECIMAL.fullmatch(stripped) else None


def js_parse_int_of(number: float) -> int:
    """`parseInt(String(number))` for a finite number: JavaScript prints 1e21 and up, and below 1e-6, in exponent
    form, of which parseInt keeps the first digit."""
    magnitude = abs(number)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        return int(number)
    first_digit = int(repr(magnitude)[0])
    return -first_digit if number < 0 else first_digit


def js_trim(text: str) -> str:
    """`String.prototype.trim`."""
    return text.strip(JS_WHITESPACE)


def number_string(number: float) -> str:
    """`String(number)`: ECMAScript's Number::toString (shortest digits; exponent form from 1e21 and below 1e-6)."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "-Infinity" if number < 0 else "Infinity"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len((whole + fraction).lstrip("0")))
    digits = digits.rstrip("0")
    size = len(digits)
    if size <= point <= 21:
        return sign + digits + "0" * (point - size)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    power = point - 1
    return f"{sign}{digits[0]}{'.' + digits[1:] if size > 1 else ''}e{'+' if power >= 0 else '-'}{abs(power)}"


def js_string(value: Any) -> str:
    """`String(value)` of a value `JSON.parse` made (arrays join their items, `null` items as '')."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        try:
            return number_string(float(value))
        except OverflowError:
            return "-Infinity" if value < 0 else "Infinity"
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    return "[object Object]"


def is_truthy(value: Any) -> bool:
    """JavaScript's truthiness of a JSON value: false, null, 0 and '' are falsy; every array and object is truthy."""
    if isinstance(value, list | dict):
        return True
    return bool(value)
