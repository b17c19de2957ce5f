"""The layers of plugins/module_utils, checked on every import (docs/contributing.md, "The layers").

- ``core/`` imports only ``core`` (and ansible, the standard library, third-party libraries);
- ``services/`` imports only ``core`` and ``services``;
- ``runbooks/`` may import anything under ``module_utils``;
- nothing under ``module_utils`` imports a module or another plugin (``plugins/modules``, ``plugins/action``);
- ``plugins/modules/*.py`` import ``module_utils`` but never each other.

Every import is read with ``ast`` (also imports inside functions and relative imports), so a violation
is named with its file, line and the import as written.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(ROOT, "plugins")
MODULE_UTILS = os.path.join(PLUGINS, "module_utils")
COLLECTION = "ansible_collections.signalcraft.ops"
LAYERS = ("core", "services", "runbooks")
# What each layer may import from the collection (module_utils layers).
ALLOWED = {"core": {"core"}, "services": {"core", "services"}, "runbooks": set(LAYERS)}


def _python_files(top):
    found = []
    for directory, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        found.extend(os.path.join(directory, f) for f in sorted(filenames) if f.endswith(".py"))
    return found


def _package_of(path):
    """Dotted package of a file under plugins/ (``..._ops.plugins.module_utils.core`` for core/x.py)."""
    rel = os.path.relpath(os.path.dirname(path), ROOT)
    parts = [] if rel == "." else rel.split(os.sep)
    return ".".join([COLLECTION] + parts)


def imports(path):
    """(line, imported dotted name, text) for each import of the file; relative imports resolved."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), filename=path)
    package = _package_of(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name, "import %s" % alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            written = "from %s%s import %s" % ("." * node.level, base, ", ".join(a.name for a in node.names))
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(parts + ([base] if base else []))
            # ``from ...module_utils import core`` imports the package ``module_utils.core``.
            for alias in node.names:
                found.append((node.lineno, "%s.%s" % (base, alias.name) if base else alias.name, written))
    return found


def _collection_target(name):
    """``("module_utils", "<layer>")``, ``("modules", "<module>")``, ``("<other plugin dir>", ...)`` or None."""
    prefix = COLLECTION + ".plugins."
    if not name.startswith(prefix):
        return None
    parts = name[len(prefix):].split(".")
    return parts[0], parts[1] if len(parts) > 1 else None


def layer_violations():
    bad = []
    for path in _python_files(MODULE_UTILS):
        rel = os.path.relpath(path, ROOT)
        parts = os.path.relpath(path, MODULE_UTILS).split(os.sep)
        if len(parts) == 1:
            if parts[0] != "__init__.py":
                bad.append("%s: not in a layer; move it under module_utils/core, services or runbooks" % rel)
            continue
        layer = parts[0]
        if layer not in LAYERS:
            bad.append("%s: module_utils/%s is not a layer (core, services, runbooks)" % (rel, layer))
            continue
        for line, name, written in imports(path):
            target = _collection_target(name)
            if target is None:
                continue  # ansible, the standard library, third-party
            kind, what = target
            if kind != "module_utils":
                bad.append("%s:%d: %s -- module_utils must not import plugins/%s" % (rel, line, written, kind))
            elif what is not None and what in LAYERS and what not in ALLOWED[layer]:
                allowed = ", ".join(sorted(ALLOWED[layer]))
                bad.append("%s:%d: %s -- %s/ may import only %s" % (rel, line, written, layer, allowed))
    return bad


def module_violations():
    bad = []
    for path in _python_files(os.path.join(PLUGINS, "modules")):
        rel = os.path.relpath(path, ROOT)
        for line, name, written in imports(path):
            target = _collection_target(name)
            if target and target[0] == "modules":
                bad.append("%s:%d: %s -- a module must not import another module; move the shared code to "
                           "module_utils" % (rel, line, written))
    return bad


def test_module_utils_layers_import_only_downwards():
    bad = layer_violations()
    assert not bad, "layer violations (docs/contributing.md, The layers):\n" + "\n".join(bad)


def test_modules_do_not_import_each_other():
    bad = module_violations()
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("source, expected", [
    ("from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3\n",
     "ansible_collections.signalcraft.ops.plugins.module_utils.services.s3"),
    ("from ..services.aws import AwsConnection\n", "ansible_collections.signalcraft.ops.plugins.module_utils.services.aws.AwsConnection"),
    ("from . import errors\n", "ansible_collections.signalcraft.ops.plugins.module_utils.core.errors"),
    ("import ansible_collections.signalcraft.ops.plugins.modules.receipt\n",
     "ansible_collections.signalcraft.ops.plugins.modules.receipt"),
])
def test_imports_are_resolved(tmp_path, monkeypatch, source, expected):
    # A file placed as module_utils/core/probe.py, so relative imports resolve against core/.
    monkeypatch.setitem(globals(), "ROOT", str(tmp_path))
    probe = tmp_path / "plugins" / "module_utils" / "core" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("def f():\n    " + source.replace("\n", "\n    ").rstrip() + "\n")
    found = [name for _line, name, _written in imports(str(probe))]
    assert found == [expected]
