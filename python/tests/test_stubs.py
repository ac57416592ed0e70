"""The type stubs (segloss/_segloss.pyi) say what the compiled module does: every public name of
the module has a stub, and each function's parameters (names, order, defaults, keyword-only)
are those of its compiled signature (`__text_signature__`, written by PyO3)."""

from __future__ import annotations

import ast
import inspect
import os

import pytest

import segloss
from segloss import _segloss

STUB = os.path.join(os.path.dirname(segloss.__file__), "_segloss.pyi")


def stub_defs():
    with open(STUB) as f:
        tree = ast.parse(f.read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for m in node.body:
                if isinstance(m, ast.FunctionDef):
                    out[f"{node.name}.{m.name}"] = m
    return out


def stub_params(fn: ast.FunctionDef):
    a = fn.args
    pos = [p.arg for p in a.posonlyargs + a.args if p.arg != "self"]
    return pos, [p.arg for p in a.kwonlyargs]


def compiled_params(obj):
    sig = inspect.signature(obj)
    pos = [p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]
    kw = [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]
    return pos, kw


PUBLIC = [n for n in dir(_segloss) if not n.startswith("_") and callable(getattr(_segloss, n))]
STUBS = stub_defs()


def test_every_public_name_has_a_stub():
    missing = [n for n in PUBLIC if n not in STUBS and f"{n}.__init__" not in STUBS]
    assert not missing, f"no stub in {STUB} for {missing}"
    assert "export_onnx" in PUBLIC, "this build has the ONNX functions (the crate's default feature)"


@pytest.mark.parametrize("name", [n for n in PUBLIC if n in STUBS])
def test_function_parameters_match(name):
    assert stub_params(STUBS[name]) == compiled_params(getattr(_segloss, name))


def test_loss_method_parameters_match():
    want = compiled_params(_segloss.Loss.value_and_grad)
    assert stub_params(STUBS["Loss.value_and_grad"]) == want
    # `__call__` is a slot (its signature is not exposed); in Rust it takes the same parameters
    assert stub_params(STUBS["Loss.__call__"]) == want


def test_loss_constructor_parameters_match():
    sig = inspect.signature(_segloss.Loss)
    assert stub_params(STUBS["Loss.__init__"])[0] == list(sig.parameters)
