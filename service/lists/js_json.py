"""JavaScript's `JSON.parse` as Rocket.Chat's handlers call it: the value, or the message V8 (Node 20) throws, which
Rocket.Chat sends back in a 400 (`visitors.autocomplete`'s `selector`).

Python's own parser decides validity (the two accept the same texts once `NaN` and `Infinity` are refused); only a
text it refuses is scanned again here, the way V8's JSON parser walks it, to find V8's message and position. Positions
and the quoted context count UTF-16 code units, as JavaScript strings do. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any, Final

_WHITESPACE: Final = " \t\n\r"
_DIGITS: Final = "0123456789"
_HEX: Final = "0123456789abcdefABCDEF"
_ESCAPES: Final = '"\\/bfnrt'
_LITERALS: Final = {"t": "true", "f": "false", "n": "null"}
# Whole texts V8 names instead of quoting a character (`JSON.parse(undefined)` and friends).
_SPECIAL: Final = frozenset({"NaN", "undefined", "Infinity", "[object Object]"})
_CONTEXT: Final = 10  # characters of context on each side of an unexpected character
_SHORT: Final = 20  # texts up to this long are quoted whole


class JsonSyntaxError(ValueError):
    """The text is not JSON; the message is V8's."""


def parse(text: str) -> Any:
    """`JSON.parse(text)`: the value, or JsonSyntaxError with V8's message."""
    try:
        return json.loads(text, parse_constant=_refuse)
    except RecursionError:
        # Deeper than Python's stack; V8's parser is iterative and would accept it. No selector is that deep.
        raise JsonSyntaxError("Maximum call stack size exceeded") from None
    except ValueError:
        raise JsonSyntaxError(v8_message(text)) from None


def _refuse(name: str) -> Any:
    raise ValueError(name)


class _Failure(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def v8_message(text: str) -> str:
    """The message V8 throws for a text that is not JSON (a fallback sentence if the text is JSON after all)."""
    try:
        _Scanner(text).scan()
    except _Failure as failure:
        return failure.message
    return "Unexpected token in JSON"


def _units(text: str) -> int:
    """The length of `text` in UTF-16 code units."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _printable(text: str) -> str:
    """No lone surrogate can be sent in a JSON answer: each becomes U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(char) < 0xE000 else char for char in text)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.end = len(text)

    # --- failures, worded as V8 words them ---
    def at(self, message: str, position: int) -> _Failure:
        where = "JSON" if message.endswith("after") else "in JSON"
        return _Failure(f"{message} {where} at position {_units(self.text[:position])}")

    def unexpected(self, position: int) -> _Failure:
        if position >= self.end:
            return _Failure("Unexpected end of JSON input")
        char = self.text[position]
        if char == "-" or char in _DIGITS:
            return self.at("Unexpected number", position)
        if char == '"':
            return self.at("Unexpected string", position)
        if self.text in _SPECIAL:
            return _Failure(f'"{self.text}" is not valid JSON')
        # V8 quotes one UTF-16 unit: the lone high surrogate of an astral character, which JSON cannot carry.
        shown = "\ufffd" if ord(char) > 0xFFFF else _printable(char)
        return _Failure(f"Unexpected token '{shown}', {self.context(position)} is not valid JSON")

    def context(self, position: int) -> str:
        units = self.text.encode("utf-16-le", "surrogatepass")
        length, at = len(units) // 2, _units(self.text[:position])
        if length <= _SHORT:
            return f'"{_printable(self.text)}"'
        start, stop = max(0, at - _CONTEXT), min(length, at + _CONTEXT)
        piece = _printable(units[2 * start : 2 * stop].decode("utf-16-le", "surrogatepass"))
        return ('..."' if start > 0 else '"') + piece + ('"...' if stop < length else '"')

    # --- the walk ---
    def skip(self, position: int) -> int:
        while position < self.end and self.text[position] in _WHITESPACE:
            position += 1
        return position

    def peek(self, position: int) -> str:
        return self.text[position] if position < self.end else ""

    def scan(self) -> None:
        containers: list[str] = []
        position = self.value(self.skip(0), containers)
        while True:
            position = self.skip(position)
            if not containers:
                if position < self.end:
                    raise self.at("Unexpected non-whitespace character after", position)
                return
            char = self.peek(position)
            if containers[-1] == "{":
                if char == "}":
                    containers.pop()
                    position += 1
                    continue
                if char != ",":
                    raise self.at("Expected ',' or '}' after property value", position)
                position = self.skip(position + 1)
                if self.peek(position) != '"':
                    raise self.at("Expected double-quoted property name", position)
                position = self.skip(self.string(position))
                if self.peek(position) != ":":
                    raise self.unexpected(position)
                position = self.value(self.skip(position + 1), containers)
            else:
                if char == "]":
                    containers.pop()
                    position += 1
                    continue
                if char != ",":
                    raise self.at("Expected ',' or ']' after array element", position)
                position = self.value(self.skip(position + 1), containers)

    def value(self, position: int, containers: list[str]) -> int:
        """Scans one value; an opening bracket pushes its container and goes on with its first member."""
        while True:
            char = self.peek(position)
            if char == '"':
                return self.string(position)
            if char == "-" or (char and char in _DIGITS):
                return self.number(position)
            if char in _LITERALS:
                return self.literal(position, _LITERALS[char])
            if char not in ("[", "{"):
                raise self.unexpected(position)
            inner = self.skip(position + 1)
            if self.peek(inner) == ("]" if char == "[" else "}"):
                return inner + 1
            if char == "{":
                if self.peek(inner) != '"':
                    raise self.at("Expected property name or '}'", inner)
                inner = self.skip(self.string(inner))
                if self.peek(inner) != ":":
                    raise self.at("Expected ':' after property name", inner)
                inner = self.skip(inner + 1)
            containers.append(char)
            position = inner

    def literal(self, position: int, word: str) -> int:
        for offset, expected in enumerate(word):
            if self.peek(position + offset) != expected:
                raise self.unexpected(position + offset)
        return position + len(word)

    def string(self, position: int) -> int:
        cursor = position + 1
        while True:
            if cursor >= self.end:
                raise self.at("Unterminated string", cursor)
            char = self.text[cursor]
            if char == '"':
                return cursor + 1
            if char == "\\":
                escaped = self.peek(cursor + 1)
                if not escaped:
                    raise self.unexpected(cursor + 1)
                if escaped == "u":
                    for digit in range(cursor + 2, cursor + 6):
                        if not self.peek(digit) or self.peek(digit) not in _HEX:
                            raise self.at("Bad Unicode escape", digit)
                    cursor += 6
                    continue
                if ord(escaped) > 0xFFFF:
                    raise self.unexpected(cursor + 1)  # V8 reads half of a surrogate pair there
                if escaped not in _ESCAPES:
                    raise self.at("Bad escaped character", cursor + 1)
                cursor += 2
                continue
            if ord(char) < 0x20:
                raise self.at("Bad control character in string literal", cursor)
            cursor += 1

    def number(self, position: int) -> int:
        cursor = position
        if self.peek(cursor) == "-":
            cursor += 1
            if not self.peek(cursor) or self.peek(cursor) not in _DIGITS:
                raise self.at("No number after minus sign", cursor)
        if self.peek(cursor) == "0":
            cursor += 1
            if self.peek(cursor) and self.peek(cursor) in _DIGITS:
                raise self.unexpected(cursor)
        cursor = self.digits(cursor)
        if self.peek(cursor) == ".":
            cursor += 1
            if not self.peek(cursor) or self.peek(cursor) not in _DIGITS:
                raise self.at("Unterminated fractional number", cursor)
            cursor = self.digits(cursor)
        if self.peek(cursor) in ("e", "E"):
            cursor += 1
            if self.peek(cursor) in ("+", "-"):
                cursor += 1
            if not self.peek(cursor) or self.peek(cursor) not in _DIGITS:
                raise self.at("Exponent part is missing a number", cursor)
            cursor = self.digits(cursor)
        return cursor

    def digits(self, cursor: int) -> int:
        while self.peek(cursor) and self.peek(cursor) in _DIGITS:
            cursor += 1
        return cursor
