"""core/reasons.py is the one registry of failure tokens; everything the collection says is registered.

Operators, cron and AWX grep ``status=fail reason=<token>`` lines, so a token is a contract. This test
scans every place a token can come from and fails, naming the file and line, when one is not in
``plugins/module_utils/core/reasons.py``:

- Python under ``plugins/``: the first argument of every ``OpsError`` subclass (found by importing
  ``module_utils`` and walking ``OpsError.__subclasses__()``, plus classes in ``plugins/`` whose bases
  name one of them), ``reason=``/``failure_code=`` keywords and dict keys, ``reason``/``token``
  assignments, ``getattr(x, "reason", "<token>")`` defaults, and ``reason=<token>`` inside any string
  (status lines, DOCUMENTATION, messages);
- YAML under ``roles/`` and ``playbooks/``: ``reason=<token>`` text, quoted literals in ``failure_code:``
  and ``reason:`` values, and ``reason ... == '<token>'`` comparisons;
- ``docs/*.md`` and ``README.md``: backticked tokens in tables with a ``token(s)`` column, in
  ``Tokens:``/``Failure tokens:`` sentences, and ``reason=<token>`` text.

To fix a failure: reuse a registered token if one means the same thing, or add the token to the right
area of ``plugins/module_utils/core/reasons.py`` with its meaning and the operator's next step, then run
``make docs-tokens`` (``python tools/write_docs_tokens.py``) to regenerate ``docs/tokens.md``.
"""

import ast
import functools
import importlib
import importlib.util
import os
import pkgutil
import re

import yaml

from ansible_collections.signalcraft.ops.plugins.module_utils.core import errors, reasons

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = "ansible_collections.signalcraft.ops.plugins.module_utils"

TOKEN = re.compile(r"^[a-z][a-z0-9_]*$")
REGISTRY_TOKEN = re.compile(r"^[a-z0-9][a-z0-9_]*$")
# ``reason=<token>``, also ``reason=a|b|c`` (and ``a\|b`` inside a Markdown table).
REASON_TEXT = re.compile(r"(?<![A-Za-z0-9_])reason=([a-z0-9_]+(?:\\?\|[a-z0-9_]+)*)")
# Names whose assigned or passed literal is a failure token; they are never tokens themselves.
TOKEN_NAMES = frozenset(("reason", "failure_code", "token"))
# Text files where a deprecated synonym must not appear (changelog fragments may name the old token).
SYNONYM_SCAN = ("plugins", "roles", "playbooks", "docs", "meta", "inventories", "scripts", "schemas", "README.md")
SYNONYM_SUFFIXES = (".py", ".yml", ".yaml", ".md", ".j2", ".json", ".sh", ".txt", ".cfg", ".ini")


def _rel(path):
    return os.path.relpath(path, ROOT)


def _files(top, suffixes):
    top = os.path.join(ROOT, top)
    if os.path.isfile(top):
        return [top] if top.endswith(suffixes) else []
    found = []
    for directory, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        found.extend(os.path.join(directory, name) for name in sorted(filenames) if name.endswith(suffixes))
    return found


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _split(text):
    """``a|b`` and ``a\\|b`` (a Markdown table's escaped pipe) are several tokens."""
    return [part for part in re.split(r"\\?\|", text) if part]


# --- Python ---------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _imported_error_names():
    """Names of every OpsError subclass, found by importing all of module_utils."""
    package = importlib.import_module(PACKAGE)
    for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
        try:
            importlib.import_module(info.name)
        except Exception:  # pylint: disable=broad-except
            continue  # an unimportable file is another test's failure; its classes are found by AST below
    names, todo = set(), [errors.OpsError]
    while todo:
        cls = todo.pop()
        if cls.__name__ not in names:
            names.add(cls.__name__)
            todo.extend(cls.__subclasses__())
    return frozenset(names)


def _base_name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _python_files():
    return _files("plugins", (".py",))


def _parse(path):
    return ast.parse(_read(path), filename=path)


def _carries_a_reason(node):
    """A class that takes ``reason`` as its first argument, or sets a class-level ``reason`` token."""
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            params = [a.arg for a in item.args.args[1:]]
            if params and params[0] == "reason":
                return True
        if isinstance(item, ast.Assign) and any(_target_names(t) == ["reason"] for t in item.targets):
            return True
    return False


def error_class_names(trees=None):
    """OpsError and every subclass: imported ones, plus classes in plugins/ whose bases name one of them
    (and, while a domain error is not yet on OpsError, classes that carry a ``reason`` of their own)."""
    names = set(_imported_error_names())
    classes = []
    for tree in (trees or {p: _parse(p) for p in _python_files()}).values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.append((node.name, {_base_name(b) for b in node.bases}))
                if _carries_a_reason(node):
                    names.add(node.name)
    grew = True
    while grew:
        grew = False
        for name, bases in classes:
            if name not in names and bases & names:
                names.add(name)
                grew = True
    return names


def _literals(node):
    """The string constants an expression can evaluate to (``"a"``, ``"a" if x else "b"``, ``x or "b"``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [value for part in node.values for value in _literals(part)]
    return []


def _target_names(target):
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Attribute):
        return [target.attr]
    return []


def _string_lines(node, source_lines, text):
    """The source line of ``text`` inside a (possibly multi-line or concatenated) string constant."""
    first, last = node.lineno, getattr(node, "end_lineno", None) or node.lineno
    for number in range(first, last + 1):
        if text in source_lines[number - 1]:
            return number
    return first


def reason_parameters(tree):
    """Function name -> positions of its ``reason`` parameter (``def _check(name, ok, reason=None)`` -> {2});
    an empty set for a function without one.

    Methods drop ``self``/``cls``, since a call through an attribute does not pass it.
    """
    positions = {}

    def visit(node, in_class):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                params = [a.arg for a in child.args.posonlyargs + child.args.args]
                if in_class and params and params[0] in ("self", "cls"):
                    params = params[1:]
                positions.setdefault(child.name, set())
                if "reason" in params:
                    positions[child.name].add(params.index("reason"))
                visit(child, False)
            else:
                visit(child, isinstance(child, ast.ClassDef))

    visit(tree, False)
    return positions


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


class ReasonParameters:
    """Where a call passes a ``reason``: ``mod.func(...)`` by the file ``mod.py``, ``func(...)`` by this
    file's own definition, else by the one definition of that name in plugins/ (ambiguous names are skipped)."""

    def __init__(self, trees):
        self.by_file = {_stem(path): reason_parameters(tree) for path, tree in trees.items()}
        self.by_name = {}
        for positions in self.by_file.values():
            for name, indexes in positions.items():
                self.by_name.setdefault(name, []).append(frozenset(indexes))

    def positions(self, path, func):
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.by_file:
            return self.by_file[func.value.id].get(func.attr, set())
        name = _base_name(func)
        own = self.by_file.get(_stem(path), {})
        if isinstance(func, ast.Name) and name in own:
            return own[name]
        candidates = set(self.by_name.get(name, ()))
        return next(iter(candidates)) if len(candidates) == 1 else set()


def _return_doc_tokens(tree, source_lines):
    """``C(<token>)`` in the description of RETURN's ``reason`` (the module's documented tokens)."""
    found = []
    for node in tree.body:
        if (isinstance(node, ast.Assign) and _target_names(node.targets[0]) == ["RETURN"]
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            try:
                document = yaml.safe_load(node.value.value) or {}
            except yaml.YAMLError:
                return found
            description = (document.get("reason") or {}).get("description") if isinstance(document, dict) else None
            text = " ".join(description) if isinstance(description, list) else str(description or "")
            for token in re.findall(r"C\(([a-z][a-z0-9_]*)\)", text):
                found.append((token, _string_lines(node.value, source_lines, "C(%s)" % token), "RETURN reason"))
    return found


def python_usages(path, tree, error_names, parameters=None):
    """(token, line, how) for every token the Python file uses; ``parameters`` is a ReasonParameters."""
    source_lines = _read(path).splitlines()
    parameters = parameters or ReasonParameters({path: tree})
    found = list(_return_doc_tokens(tree, source_lines))

    def add(values, line, how):
        for value in values:
            if TOKEN.match(value) and value not in TOKEN_NAMES:
                found.append((value, line, how))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _base_name(node.func)
            if name in error_names and node.args:
                add(_literals(node.args[0]), node.lineno, "%s(...)" % name)
            if name == "getattr" and len(node.args) == 3 and _literals(node.args[1]) == ["reason"]:
                add(_literals(node.args[2]), node.lineno, "getattr(..., 'reason', ...)")
            for position in parameters.positions(path, node.func):
                if name not in error_names and position < len(node.args):
                    add(_literals(node.args[position]), node.args[position].lineno, "%s(..., reason, ...)" % name)
            for keyword in node.keywords:
                if keyword.arg in TOKEN_NAMES:
                    add(_literals(keyword.value), keyword.value.lineno, "%s=" % keyword.arg)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if key is not None and _literals(key) and _literals(key)[0] in TOKEN_NAMES:
                    add(_literals(value), value.lineno, '"%s": ...' % _literals(key)[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for element, value in zip(target.elts, node.value.elts):
                        if set(_target_names(element)) & TOKEN_NAMES:
                            add(_literals(value), value.lineno, "%s = ..." % _target_names(element)[0])
                elif set(_target_names(target)) & TOKEN_NAMES and node.value is not None:
                    add(_literals(node.value), node.value.lineno, "%s = ..." % _target_names(target)[0])
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            # exc.reason == "token", reason != "token"
            sides = [node.left, node.comparators[0]]
            if any(set(_target_names(side)) & TOKEN_NAMES for side in sides):
                for side in sides:
                    add(_literals(side), node.lineno, "reason == ...")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in REASON_TEXT.finditer(node.value):
                add(_split(match.group(1)), _string_lines(node, source_lines, match.group(0)), "reason=<token> in a string")
    return found


# --- YAML -----------------------------------------------------------------------------------------

# A quoted literal in a Jinja expression is a token where a value is chosen: ``default('x')``,
# ``else 'x'``, ``'x' if``, or the whole expression; not a filter's argument (``select('defined')``) nor
# another field's comparison (``outcome == 'success'``; ``reason == 'x'`` is COMPARED below).
QUOTED = re.compile(r"""(?:default\(\s*|\belse\s+|\{\{\s*)['"]([a-z][a-z0-9_]*)['"]"""
                    r"""|['"]([a-z][a-z0-9_]*)['"](?=\s+if\b)""")
COMPARED = re.compile(r"""reason(?:\s*\|\s*default\([^)]*\))?\s*[!=]=\s*['"]([a-z][a-z0-9_]*)['"]"""
                      r"""|reason\s*\|\s*default\(\s*['"]([a-z][a-z0-9_]*)['"]""")


def _yaml_scalars(node, key=None):
    """(key, scalar node) for every scalar of a composed YAML document."""
    if isinstance(node, yaml.ScalarNode):
        yield key, node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _yaml_scalars(item, key)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            yield from _yaml_scalars(value_node, key_node.value if isinstance(key_node, yaml.ScalarNode) else None)


def _scalar_value_tokens(value):
    """A token-valued key's literal tokens: ``module_error`` or the quoted literals of a Jinja expression."""
    value = value.strip()
    if TOKEN.match(value):
        return [value]
    if "{{" in value:
        return [single or double for single, double in QUOTED.findall(value)]
    return []


def yaml_usages(path):
    text = _read(path)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in REASON_TEXT.finditer(line):
            found.extend((token, number, "reason=<token>") for token in _split(match.group(1)))
        for match in COMPARED.finditer(line):
            found.append((match.group(1) or match.group(2), number, "reason == / default('<token>')"))
    for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
        for key, node in _yaml_scalars(document):
            if key in TOKEN_NAMES and isinstance(node.value, str):
                for token in _scalar_value_tokens(node.value):
                    found.append((token, node.start_mark.line + 1, "%s:" % key))
    return found


# --- Markdown -------------------------------------------------------------------------------------

BACKTICKED = re.compile(r"`([^`\n]+)`")
TABLE_COLUMNS = ("token", "tokens", "reason", "failure token", "failure tokens")
TOKENS_SENTENCE = re.compile(r"\btokens:", re.IGNORECASE)


def _table_rows(lines):
    """(line number, cells) of the rows of tables whose header has a ``token``/``tokens``/``reason`` column,
    with the index of that column."""
    header = None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", stripped.strip("|"))]
        if header is None:
            names = [cell.lower() for cell in cells]
            header = [i for i, name in enumerate(names) if name in TABLE_COLUMNS]
            continue
        if all(set(cell) <= set("-: ") for cell in cells):
            continue
        for index in header:
            if index < len(cells):
                yield number, cells[index]


def _sentence_tokens(text, start):
    """Backticked tokens from ``start`` to the end of the sentence, outside parentheses."""
    depth, index, spans, tick = 0, start, [], None
    while index < len(text):
        char = text[index]
        if tick is not None:
            if char == "`":
                if depth == 0:
                    spans.append((tick + 1, text[tick + 1:index]))
                tick = None
        elif char == "`":
            tick = index
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and (text.startswith(". ", index) or text.startswith(".\n", index)
                             or text.startswith("\n\n", index) or index == len(text) - 1 and char == "."):
            break
        index += 1
    return spans


def markdown_usages(path):
    text = _read(path)
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines, 1):
        for match in REASON_TEXT.finditer(line):
            found.extend((token, number, "reason=<token>") for token in _split(match.group(1)))
    for number, cell in _table_rows(lines):
        for match in BACKTICKED.finditer(cell):
            # "the `dr_restore` tokens" names a module's tokens; it is not one.
            if TOKEN.match(match.group(1)) and not re.match(r"\s+tokens\b", cell[match.end():]):
                found.append((match.group(1), number, "token table"))
    for match in TOKENS_SENTENCE.finditer(text):
        for offset, value in _sentence_tokens(text, match.end()):
            if TOKEN.match(value):
                found.append((value, text.count("\n", 0, offset) + 1, "Tokens: sentence"))
    return found


# --- collection -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def all_usages():
    """(token, relative path, line, how) for every token use in plugins/, roles/, playbooks/ and the docs."""
    trees = {path: _parse(path) for path in _python_files()}
    error_names = error_class_names(trees)
    parameters = ReasonParameters(trees)
    usages = []
    for path, tree in trees.items():
        usages.extend((token, _rel(path), line, how)
                      for token, line, how in python_usages(path, tree, error_names, parameters))
    for path in _files("roles", (".yml", ".yaml")) + _files("playbooks", (".yml", ".yaml")):
        usages.extend((token, _rel(path), line, how) for token, line, how in yaml_usages(path))
    docs = [p for p in _files("docs", (".md",)) if os.path.basename(p) != "tokens.md"] + _files("README.md", (".md",))
    for path in docs:
        usages.extend((token, _rel(path), line, how) for token, line, how in markdown_usages(path))
    return tuple(sorted(set(usages)))


def _report(unregistered):
    lines = ["%d token(s) used but not registered in plugins/module_utils/core/reasons.py:" % len(
        {token for token, _path, _line, _how in unregistered})]
    for token, path, line, how in sorted(unregistered, key=lambda u: (u[0], u[1], u[2])):
        replacement = reasons.RENAMED.get(token)
        hint = " (deprecated: use %s)" % replacement if replacement else ""
        lines.append("  %s%s  %s:%d  [%s]" % (token, hint, path, line, how))
    lines.append("Reuse a registered token, or add each one to the right area of reasons.py with its meaning and "
                 "the operator's next step; then run `make docs-tokens`.")
    return "\n".join(lines)


# --- tests ----------------------------------------------------------------------------------------

def test_the_scanner_finds_tokens_in_every_kind_of_source():
    usages = all_usages()
    assert any(how.endswith("(...)") for _t, _p, _l, how in usages), "no OpsError(...) call site found: the scanner is broken"
    assert {"plugins", "roles", "docs"} <= {path.split(os.sep)[0] for _t, path, _l, _h in usages}
    assert "account_mismatch" in {token for token, _p, _l, _h in usages}


def test_python_patterns(tmp_path):
    source = ('raise GuardError(\n    "bad_thing",\n    "msg")\n'
              'x = dict(reason="a_token", other="not it")\n'
              'status, reason, message = "failed", "aws_error", "m reason=k8s_error: ..."\n'
              'line = "key status=fail reason=one|two"\n'
              'token = getattr(exc, "reason", "pointer_error")\n'
              'if exc.reason != "migration_failed": pass\n'
              'y = {"reason": "x_gone" if a else None}\n'
              'def _check(name, ok, reason=None):\n    return name\n'
              'z = _check("a_check", False, "check_token")\n'
              'stop(reason="AWS stop reason, not a token")\n')
    path = tmp_path / "probe.py"
    path.write_text(source)
    got = {(token, how) for token, _line, how in python_usages(str(path), ast.parse(source), {"OpsError", "GuardError"})}
    assert {("bad_thing", "GuardError(...)"), ("a_token", "reason="), ("aws_error", "reason = ..."),
            ("pointer_error", "getattr(..., 'reason', ...)"), ("migration_failed", "reason == ..."),
            ("x_gone", '"reason": ...'), ("check_token", "_check(..., reason, ...)")} <= got
    tokens = {token for token, _how in got}
    assert {"k8s_error", "one", "two"} <= tokens
    assert not tokens & {"not it", "failed", "a_check", "msg"}


def test_yaml_and_markdown_patterns(tmp_path):
    tasks = tmp_path / "main.yml"
    tasks.write_text("- name: x\n  ansible.builtin.fail:\n    msg: \"step status=fail reason=yaml_token: fix it\"\n"
                     "- name: y\n  signalcraft.ops.receipt:\n"
                     "    failure_code: \"{{ omit if ok else (r.reason | default('fallback_token')) }}\"\n"
                     "    reason: \"{{ none if r.outcome == 'success' else r.items | map(attribute='reason') | first }}\"\n")
    assert {token for token, _line, _how in yaml_usages(str(tasks))} == {"yaml_token", "fallback_token"}
    doc = tmp_path / "doc.md"
    doc.write_text("| phase | tokens |\n|---|---|\n| a | `table_token`, the `some_module` tokens |\n\n"
                   "Failure tokens: `listed_token` (with the run's `failure_code`),\n`next_line_token`. Then `not_a_token`.\n"
                   "Prints `x status=fail reason=a_one\\|a_two`.\n")
    assert {token for token, _line, _how in markdown_usages(str(doc))} == {
        "table_token", "listed_token", "next_line_token", "a_one", "a_two"}


def test_every_used_token_is_registered():
    unregistered = [usage for usage in all_usages() if not reasons.is_registered(usage[0])]
    assert not unregistered, _report(unregistered)


def test_no_deprecated_synonym_appears():
    pattern = re.compile(r"(?<![A-Za-z0-9_])(%s)(?![A-Za-z0-9_])" % "|".join(map(re.escape, sorted(reasons.RENAMED))))
    reasons_py = os.path.join(ROOT, "plugins", "module_utils", "core", "reasons.py")
    hits = []
    for top in SYNONYM_SCAN:
        for path in _files(top, SYNONYM_SUFFIXES):
            if path == reasons_py:  # RENAMED names them, to say what replaced them
                continue
            for number, line in enumerate(_read(path).splitlines(), 1):
                for match in pattern.finditer(line):
                    old = match.group(1)
                    hits.append("  %s:%d: %s -> use %s" % (_rel(path), number, old, reasons.RENAMED[old]))
    assert not hits, "deprecated token synonyms (use the registered token):\n" + "\n".join(hits)


def test_deprecated_synonyms_are_not_registered_and_point_at_registered_tokens():
    for old, new in reasons.RENAMED.items():
        assert not reasons.is_registered(old), old
        assert reasons.is_registered(new), (old, new)


def test_every_entry_has_a_meaning_a_next_step_an_area_and_a_token_shape():
    bad = []
    for token in sorted(reasons.REASONS):
        if not REGISTRY_TOKEN.match(token):
            bad.append("%s: not a token (^[a-z0-9][a-z0-9_]*$)" % token)
        if not (reasons.meaning(token) or "").strip():
            bad.append("%s: empty meaning" % token)
        if not (reasons.next_step(token) or "").strip():
            bad.append("%s: empty next step" % token)
        if reasons.area(token) not in reasons.AREA_TITLES:
            bad.append("%s: area %r is not in AREA_TITLES" % (token, reasons.area(token)))
    assert not bad, "\n".join(bad)


def test_docs_tokens_md_is_generated_from_the_registry():
    spec = importlib.util.spec_from_file_location("write_docs_tokens", os.path.join(ROOT, "tools", "write_docs_tokens.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = os.path.join(ROOT, "docs", "tokens.md")
    current = _read(path) if os.path.exists(path) else None
    assert current == module.render(), "docs/tokens.md is out of date: run `make docs-tokens`"


def test_error_classes_are_discovered_from_the_code():
    names = error_class_names()
    assert "OpsError" in names and "GuardError" in names
    assert {cls.__name__ for cls in errors.OpsError.__subclasses__()} <= names
