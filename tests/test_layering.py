"""The package's layering rules, checked on the source (docs/ARCHITECTURE.md draws them).

Every `import` counts, function-level ones included: a lazy import is still an arrow. The rules:
  * no import cycles among qdretrain's modules;
  * arrows point down: a module imports only from its own layer or the layers below it (LAYERS);
  * no private name (`_x`) imported from another module;
  * `retrain/`'s top level stays small enough to read (MAX_TOP_LEVEL entries).
Pure standard library (ast), so it runs in a second and needs no TensorFlow.
"""

from __future__ import annotations

import ast
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("common", "convert", "retrain", "android_export", "serve", "qdretrain")

# Lowest first. A module belongs to the layer of its longest matching prefix.
LAYERS = (
    ("common",),                    # errors, atomic writes, write probes, progress, quiet TF import, CLI helpers
    ("convert",),                   # QuickDraw files -> images; no TensorFlow
    ("retrain.data",),              # scanning, sources, class names, split, exclude, renderings, image decoding
    ("retrain.model_folder",),      # the folder contract: files, model_info.json, run id, layers, safe loading
    ("retrain.evaluation",),        # metrics, confusions, plots, the rendering panel, test-image scoring
    ("retrain.distribution",),      # tf.distribute strategy, local launch, watchdog
    ("retrain.families",),          # the config, the architecture registry, hub_head/, native/
    ("retrain.embeddings",),        # extraction through a signature, search, audit
    ("android_export",),            # export formats, verification, Android bundle, label_image
    ("serve",),                     # the drawing page's server
    ("retrain.run",),               # the story of a run: data -> family.train -> evaluate -> model folder
    ("retrain.cli", "retrain", "qdretrain"),  # the commands and the Python API
)
MAX_TOP_LEVEL = 12


def _modules() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    found[module.removesuffix(".__init__")] = path
    return found


def _imports(module: str, path: str) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import statement in the file."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + path.endswith("__init__.py")]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found += [(target, alias.name) for alias in node.names]
    return found


def _graph():
    modules = _modules()
    edges, private = {}, []
    for module, path in modules.items():
        targets = set()
        for target, name in _imports(module, path):
            if target.split(".")[0] not in PACKAGES:
                continue
            full = f"{target}.{name}" if name else target
            if full in modules:
                targets.add(full)
            elif target in modules:
                targets.add(target)
                if name and name.startswith("_") and not name.startswith("__"):
                    private.append(f"{module} imports {target}.{name}")
        targets.discard(module)
        edges[module] = targets
    return edges, private


def _layer(module: str) -> int:
    best, best_len = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _cycles(edges: dict) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(start):
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_arrows_point_down():
    edges, _ = _graph()
    upward = [f"{a} (layer {_layer(a)}) -> {b} (layer {_layer(b)})"
              for a, targets in sorted(edges.items()) for b in sorted(targets) if _layer(b) > _layer(a)]
    assert upward == []


def test_no_private_names_across_modules():
    _, private = _graph()
    assert private == []


def test_package_init_imports_nothing_of_ours():
    # `import retrain.data` runs retrain/__init__.py: it must not drag the upper layers in.
    edges, _ = _graph()
    assert edges["retrain"] == set()


def test_retrain_top_level_is_small():
    listed = subprocess.run(["git", "ls-files", "retrain"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    entries = {path.split("/")[1] for path in listed.stdout.split() if path.count("/") >= 1}
    assert len(entries) <= MAX_TOP_LEVEL, sorted(entries)


def test_the_checker_sees_a_cycle_and_an_upward_arrow():
    # The rules above must be able to fail.
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _layer("common.errors") < _layer("retrain.run.story")
