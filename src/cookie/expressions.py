"""A restricted arithmetic parser for label expressions (never `eval`).

Grammar: numbers, column names, + - * / ** unary minus, parentheses, and the functions
log, log1p, sqrt, abs. Names resolve to columns of a frame.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping

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


def parse(expression: str) -> ast.Expression:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ConfigError(f"invalid expression {expression!r}") from None
    for node in ast.walk(tree):
        allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant,
                   ast.Call, *_BINARY, *_UNARY)
        if not isinstance(node, allowed):
            raise ConfigError(f"expression {expression!r}: {type(node).__name__} not allowed")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise ConfigError(f"expression {expression!r}: only numeric constants allowed")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _FUNCS and len(node.args) == 1
            and not node.keywords
        ):
            raise ConfigError(f"expression {expression!r}: only {sorted(_FUNCS)} may be called")
    return tree


def names_in(expression: str) -> set[str]:
    tree = parse(expression)
    funcs = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - funcs


def evaluate(expression: str, columns: Mapping[str, object], source: str = "labels"):
    """Evaluate `expression` with names looked up in `columns` (arrays or Series)."""
    tree = parse(expression)

    def walk(node: ast.AST):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in columns:
                raise ConfigError(f"{source}: column {node.id!r} not found (in {expression!r})")
            return columns[node.id]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Call):
            return _FUNCS[node.func.id](walk(node.args[0]))
        raise ConfigError(f"expression {expression!r}: unsupported syntax")  # pragma: no cover

    with np.errstate(divide="ignore", invalid="ignore"):
        return walk(tree)
