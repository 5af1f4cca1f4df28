"""`JSON.parse`'s messages: each row is what Node 20 threw for the text (recorded with `node -e`), and the value when
it parsed. A randomized comparison of 8,422 texts against Node agreed on every one (docs/visitors.md)."""

from __future__ import annotations

import json

import pytest

from service.lists import js_json


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Unexpected end of JSON input"),
        ("   ", "Unexpected end of JSON input"),
        ("{invalid", "Expected property name or '}' in JSON at position 1"),
        ("abc", "Unexpected token 'a', \"abc\" is not valid JSON"),
        ('{"a":1', "Expected ',' or '}' after property value in JSON at position 6"),
        ('{"a":1}x', "Unexpected non-whitespace character after JSON at position 7"),
        ("[1,", "Unexpected end of JSON input"),
        ('{"a" 1}', "Expected ':' after property name in JSON at position 5"),
        ('"\x01"', "Bad control character in string literal in JSON at position 1"),
        ('"abc', "Unterminated string in JSON at position 4"),
        ('{"a":1,}', "Expected double-quoted property name in JSON at position 7"),
        ("tru", "Unexpected end of JSON input"),
        ("trux", "Unexpected token 'x', \"trux\" is not valid JSON"),
        ("truex", "Unexpected non-whitespace character after JSON at position 4"),
        ("-", "No number after minus sign in JSON at position 1"),
        ("1.", "Unterminated fractional number in JSON at position 2"),
        ("1e", "Exponent part is missing a number in JSON at position 2"),
        ("1e+", "Exponent part is missing a number in JSON at position 3"),
        ('"\\x"', "Bad escaped character in JSON at position 2"),
        ('"\\u12"', "Bad Unicode escape in JSON at position 5"),
        ('"\\u1', "Bad Unicode escape in JSON at position 4"),
        ('"\\', "Unexpected end of JSON input"),
        ("{", "Expected property name or '}' in JSON at position 1"),
        ('{"a"', "Expected ':' after property name in JSON at position 4"),
        ('{"a":', "Unexpected end of JSON input"),
        ("01", "Unexpected number in JSON at position 1"),
        ("[01]", "Unexpected number in JSON at position 2"),
        (".5", "Unexpected token '.', \".5\" is not valid JSON"),
        ("NaN", '"NaN" is not valid JSON'),
        ("undefined", '"undefined" is not valid JSON'),
        ("[object Object]", '"[object Object]" is not valid JSON'),
        ("-Infinity", "No number after minus sign in JSON at position 1"),
        ("0x10", "Unexpected non-whitespace character after JSON at position 1"),
        ("\xa0{}", "Unexpected token '\xa0', \"\xa0{}\" is not valid JSON"),
        ("[,]", "Unexpected token ',', \"[,]\" is not valid JSON"),
        ("[1,]", "Unexpected token ']', \"[1,]\" is not valid JSON"),
        ("{'a':1}", "Expected property name or '}' in JSON at position 1"),
        ('{"a":1,"b"}', 'Unexpected token \'}\', "{"a":1,"b"}" is not valid JSON'),
        ('{"a":1,"b" 2}', "Unexpected number in JSON at position 11"),
        ('{"a":1,"b":}', 'Unexpected token \'}\', "{"a":1,"b":}" is not valid JSON'),
        ("[1", "Expected ',' or ']' after array element in JSON at position 2"),
        ('"\\é"', "Bad escaped character in JSON at position 2"),
        ('"\\😀"', 'Unexpected token \'\ud83d\', ""\\😀"" is not valid JSON'),
        ("xxxxxxxxxxxxxxxxxxxx", "Unexpected token 'x', \"xxxxxxxxxxxxxxxxxxxx\" is not valid JSON"),
        ("xxxxxxxxxxxxxxxxxxxxx", "Unexpected token 'x', \"xxxxxxxxxx\"... is not valid JSON"),
        ("[1,2,3,4,5,6,7,8,9,@0]", "Unexpected token '@', ...\"5,6,7,8,9,@0]\" is not valid JSON"),
        (
            "[1,2,3,4,5,6,7,@,9,10,11,12,13,14]",
            "Unexpected token '@', ...\"3,4,5,6,7,@,9,10,11,\"... is not valid JSON",
        ),
        ('{"😀😀😀😀😀😀":@}', 'Unexpected token \'@\', "{"😀😀😀😀😀😀":@}" is not valid JSON'),
        ('{"term":"a","exceptions":["x"]} ', None),
        ('{"term":"😀"}', None),
    ],
)
def test_the_message_is_v8s(text: str, message: str | None) -> None:
    if message is None:
        assert js_json.parse(text) == json.loads(text)
        return
    with pytest.raises(js_json.JsonSyntaxError) as raised:
        js_json.parse(text)
    assert str(raised.value) == message.replace("\ud83d", "\ufffd")
