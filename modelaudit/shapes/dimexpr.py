"""Dim expressions exporters write as dim names (`seq*batch`, `((width - 1)//16) + 1`), parsed safely."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

__all__ = ["free_symbols", "evaluate_dim", "is_identifier", "MAX_DIM"]

# Symbols as exporters spell them: `batch`, `unk__88`, `s53`, `p2o.DynamicDimension.1`.
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_.]*)|(//|[-+*/%(),]))")
_FUNCTIONS = {"floor": 1, "ceil": 1, "ceiling": 1, "min": 2, "max": 2}
MAX_DIM = 2**63 - 1  # the largest dim a TensorShapeProto holds (int64); beyond it protobuf raises
_MAX_LENGTH = 512  # a dim name longer than this is not an expression worth parsing
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


class _Syntax(ValueError):
    pass


def is_identifier(text: str) -> bool:
    """A plain symbol (`batch`), as opposed to an expression over symbols."""
    return _IDENTIFIER.fullmatch(text) is not None


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple | None:
    if len(text) > _MAX_LENGTH:
        return None
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            return None
        number, name, op = match.groups()
        out.append(("num", Fraction(number)) if number else ("name", name) if name else ("op", op))
        pos = match.end()
    return tuple(out)


class _Parser:
    """Recursive descent over: expr := term (('+'|'-') term)*; term := unary (('*'|'/'|'//'|'%') unary)*;
    unary := '-' unary | atom; atom := number | symbol | f '(' expr [',' expr] ')' | '(' expr ')'."""

    def __init__(self, tokens: tuple, bound: dict[str, int] | None):
        self.tokens, self.pos, self.bound = tokens, 0, bound
        self.symbols: set[str] = set()
        self.value: Fraction | None = None  # the whole expression's, once parsed

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self, op: str) -> bool:
        if self.peek() == ("op", op):
            self.pos += 1
            return True
        return False

    def expr(self):
        value = self.term()
        while True:
            if self.take("+"):
                value = _apply(lambda a, b: a + b, value, self.term())
            elif self.take("-"):
                value = _apply(lambda a, b: a - b, value, self.term())
            else:
                return value

    def term(self):
        value = self.unary()
        while True:
            if self.take("*"):
                value = _apply(lambda a, b: a * b, value, self.unary())
            elif self.take("//"):
                value = _apply(lambda a, b: Fraction(a // b), value, self.unary(), divides=True)
            elif self.take("/"):
                value = _apply(lambda a, b: a / b, value, self.unary(), divides=True)
            elif self.take("%"):
                value = _apply(lambda a, b: a % b, value, self.unary(), divides=True)
            else:
                return value

    def unary(self):
        if self.take("-"):
            return _apply(lambda a, _: -a, self.unary(), Fraction(0))
        if self.take("+"):
            return self.unary()
        return self.atom()

    def atom(self):
        kind, value = self.peek()
        self.pos += 1
        if kind == "num":
            return value
        if kind == "op" and value == "(":
            inner = self.expr()
            if not self.take(")"):
                raise _Syntax("unbalanced parenthesis")
            return inner
        if kind == "name":
            function = value.lower()
            if function in _FUNCTIONS and self.peek() == ("op", "("):
                self.pos += 1
                args = [self.expr()]
                while self.take(","):
                    args.append(self.expr())
                if not self.take(")") or len(args) != _FUNCTIONS[function]:
                    raise _Syntax(f"{value} takes {_FUNCTIONS[function]} argument(s)")
                return _call(function, args)
            self.symbols.add(value)
            if self.bound is None or value not in self.bound:
                return None
            return Fraction(self.bound[value])
        raise _Syntax(f"unexpected {value!r}")


def _apply(op, a, b, divides: bool = False):
    if a is None or b is None:
        return None
    if divides and b == 0:
        raise _Syntax("division by zero")
    return op(a, b)


def _call(function: str, args: list):
    if any(a is None for a in args):
        return None
    if function == "floor":
        return Fraction(math.floor(args[0]))
    if function in ("ceil", "ceiling"):
        return Fraction(math.ceil(args[0]))
    return min(args) if function == "min" else max(args)


def _parse(text: str, bound: dict[str, int] | None) -> _Parser | None:
    tokens = _tokens(text)
    if not tokens:
        return None
    parser = _Parser(tokens, bound)
    try:
        parser.value = parser.expr()
    except (_Syntax, RecursionError):
        return None
    return parser if parser.pos == len(tokens) else None


def free_symbols(text: str) -> frozenset[str] | None:
    """The symbols a dim name uses (`{"seq", "batch"}` for `seq*batch`); None if it does not parse."""
    parser = _parse(text, None)
    return None if parser is None else frozenset(parser.symbols)


def evaluate_dim(text: str, bound: dict[str, int]) -> int | None:
    """The value of a dim expression once its symbols are bound, or None (a free symbol, a syntax
    error, a result that is negative, not a whole number, or past MAX_DIM: `n*n*n*n*n` reaches
    10⁹⁵ from n = 10¹⁹).

    Arithmetic is exact, on rationals: `/` is true division, as in the sympy expressions torch's
    exporter writes (`floor(floor(width/2 - 1/2)/2) + 1`), where a floor says where the rounding
    is; `//` and `%` are floored as in Python. Nothing is ever passed to `eval`."""
    parser = _parse(text, bound)
    if parser is None or parser.value is None:
        return None
    value = parser.value
    if value.denominator != 1 or not 0 <= value <= MAX_DIM:
        return None
    return int(value)
