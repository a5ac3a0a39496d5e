"""A restricted arithmetic parser for label expressions (never `eval`).

Grammar: numbers, column names, + - * / ** unary minus, parentheses, and the functions
log, log1p, sqrt, abs. Names resolve to columns of a frame. Arithmetic is float64 throughout
(so ``10 ** 10 ** 10`` cannot run for ever as a Python integer power): a result beyond
float64's range is an error, as are literals beyond ``MAX_LITERAL`` and expressions longer
than ``MAX_LENGTH`` characters.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np

from cookie.errors import ConfigError

_BINARY: dict[type, Callable] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCS: dict[str, Callable] = {"log": np.log, "log1p": np.log1p, "sqrt": np.sqrt, "abs": np.abs}
MAX_LENGTH = 1000
MAX_LITERAL = 1e100


def parse(expression: str) -> ast.Expression:
    if len(expression) > MAX_LENGTH:
        raise ConfigError(f"expression {expression[:40]!r}...: longer than {MAX_LENGTH} "
                          "characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ConfigError(f"invalid expression {expression!r}") from None
    for node in ast.walk(tree):
        allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant,
                   ast.Call, *_BINARY, *_UNARY)
        if not isinstance(node, allowed):
            raise ConfigError(f"expression {expression!r}: {type(node).__name__} not allowed")
        if isinstance(node, ast.Constant) and (
            not isinstance(node.value, (int, float)) or isinstance(node.value, bool)
        ):
            raise ConfigError(f"expression {expression!r}: only numeric constants allowed")
        if isinstance(node, ast.Constant) and not abs(node.value) <= MAX_LITERAL:  # type: ignore[arg-type]
            text = ast.unparse(node)
            raise ConfigError(f"expression {expression[:60]!r}: the number "
                              f"{text if len(text) < 20 else text[:12] + '...'} is beyond "
                              f"{MAX_LITERAL:.0e}")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _FUNCS and len(node.args) == 1
            and not node.keywords
        ):
            raise ConfigError(f"expression {expression!r}: only {sorted(_FUNCS)} may be called")
    return tree


def names_in(expression: str) -> set[str]:
    tree = parse(expression)
    funcs = {n.func.id for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - funcs


def evaluate(expression: str, columns: Mapping[str, object], source: str = "labels") -> Any:
    """Evaluate `expression` with names looked up in `columns` (arrays or Series)."""
    tree = parse(expression)

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return np.float64(node.value)  # type: ignore[arg-type]  # numeric (checked)
        if isinstance(node, ast.Name):
            if node.id not in columns:
                raise ConfigError(f"{source}: column {node.id!r} not found (in {expression!r})")
            return _as_float(columns[node.id], node.id, source)
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            out = _BINARY[type(node.op)](left, right)
            if not isinstance(node.op, ast.Div) and _overflowed(out, left, right):
                raise ConfigError(f"{source}: expression {expression!r} overflows (a result "
                                  f"is infinite or beyond {np.finfo(np.float64).max:.3g})")
            return out
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Call):
            return _FUNCS[cast(ast.Name, node.func).id](walk(node.args[0]))
        raise ConfigError(f"expression {expression!r}: unsupported syntax")  # pragma: no cover

    with np.errstate(all="ignore"):  # x / 0 is inf and dropped as unlabeled later
        return walk(tree)


def _overflowed(out: object, left: object, right: object) -> bool:
    """Whether an operation on finite inputs gave an infinite value somewhere."""
    out, left, right = (np.asarray(v, dtype=np.float64) for v in (out, left, right))
    return bool((np.isinf(out) & np.isfinite(left) & np.isfinite(right)).any())


def _as_float(values: object, name: str, source: str) -> object:
    """A column as float64 (a Series stays a Series); text is a ConfigError."""
    try:
        return (values.astype(np.float64) if hasattr(values, "astype")
                else np.float64(values))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: column {name!r} is not numeric") from None
