"""The commands README.md and docs/*.md show, with the doc-test marker above each fenced block.

Every ``bash``/``sh``/``shell`` fenced block is a list of commands an operator pastes from the
repository root (a line ending in ``\\`` continues the command; ``# ...`` outside quotes is a
comment). Directly above the block's opening fence stand one marker per command, in order:

    <!-- doc-test: exit=0 line="publish status=ok" -->
    <!-- doc-test: exit=2 line="reason=task_failed" id=fail setup=run -->
    <!-- doc-test: skip="runs for 72 hours" -->

Attributes: ``exit`` (expected exit code, default 0), ``line`` (text the output must contain; may be
repeated), ``skip`` (the reason, which must also be written in the page's visible text next to the
block), ``id`` and ``setup`` (ids of earlier commands of the same page that must have run first,
comma-separated), ``fresh`` (a path under ``state/`` that a fixed name in the command uses; removed
before the command runs, so a second test run starts where an operator's first does), ``timeout``
(seconds, default 600), ``again`` (run it even when the same command already ran in this session;
otherwise a command shown twice runs once). A command with ``--check`` must leave the sandbox unchanged.

Lines that only prepare the shell -- ``source .sandbox/env.sh``, ``. .sandbox/env.sh``, ``R=...`` --
are not commands: they run before every later command of the same block.
"""

import glob
import os
import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

SHELL_LANGS = ("bash", "sh", "shell", "console")
MARKER = re.compile(r"^\s*<!--\s*doc-test:(.*?)-->\s*$")
_ATTR = re.compile(r'\s*([a-z_]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]+))?')
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([A-Za-z0-9_+-]*)")
_PRELUDE = re.compile(r"^(?:(?:source|\.)\s+\S+|[A-Za-z_][A-Za-z0-9_]*=(?:[^\s$]*|\$\([^\n]*\)))$")
# A runbook command outside a shell block (which the test would not see).
_RUNBOOK = re.compile(r"^\s*(?:[A-Z_][A-Z0-9_]*=\S+\s+)*(?:ansible-playbook|make)\s")
_PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")
KNOWN_ATTRS = {"exit", "line", "skip", "id", "setup", "fresh", "timeout", "again"}


@dataclass
class DocCommand:
    page: str               # path relative to the repository root
    lineno: int             # 1-based line of the command's first line
    text: str               # the command as shown (continuations kept, comments removed)
    preludes: Tuple[str, ...]
    attrs: dict = field(default_factory=dict)

    @property
    def key(self):
        return "%s:%d" % (self.page, self.lineno)

    @property
    def exit(self):
        return int(self.attrs.get("exit", ["0"])[-1])

    @property
    def lines(self):
        return list(self.attrs.get("line", []))

    @property
    def skip(self):
        return self.attrs.get("skip", [None])[-1]

    @property
    def name(self):
        return self.attrs.get("id", [None])[-1]

    @property
    def setup(self):
        return [s for value in self.attrs.get("setup", []) for s in value.split(",") if s]

    @property
    def fresh(self):
        return self.attrs.get("fresh", [None])[-1]

    @property
    def timeout(self):
        return int(self.attrs.get("timeout", ["600"])[-1])

    @property
    def again(self):
        return "again" in self.attrs

    @property
    def check_mode(self):
        return "--check" in self.text.split()


@dataclass
class Block:
    page: str
    start: int              # 0-based index of the opening fence line
    end: int                # 0-based index of the closing fence line
    lang: str
    markers: List[Tuple[int, dict]]
    commands: List[DocCommand]


def parse_attrs(text):
    """``exit=0 line="a b" line=c`` -> ``{"exit": ["0"], "line": ["a b", "c"]}``."""
    attrs, pos, text = {}, 0, text.strip()
    while pos < len(text):
        match = _ATTR.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError("cannot parse doc-test marker at %r" % text[pos:])
        name, value = match.group(1), match.group(2)
        if value is None:
            value = "true"
        elif value.startswith('"'):
            value = value[1:-1].replace('\\"', '"')
        attrs.setdefault(name, []).append(value)
        pos = match.end()
    return attrs


def strip_comment(line):
    """The line without a trailing ``# comment`` (a ``#`` that starts a word, outside quotes)."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def _commands(page, lines, first, preludes_in=()):
    """Commands of a block body (``lines`` start at 0-based file line ``first``)."""
    commands, preludes, pending, start = [], list(preludes_in), [], None
    for offset, raw in enumerate(lines):
        text = strip_comment(raw)
        if not pending and not text.strip():
            continue
        if not pending:
            start = first + offset
        continued = text.endswith("\\")
        pending.append(text)
        if continued:
            continue
        command = "\n".join(pending).strip()
        pending = []
        if _PRELUDE.match(command):
            preludes.append(command)
        else:
            commands.append(DocCommand(page, start + 1, command, tuple(preludes)))
    if pending:
        commands.append(DocCommand(page, start + 1, "\n".join(pending).strip(), tuple(preludes)))
    return commands


def parse_page(root, page):
    """``(blocks, problems)`` of one Markdown page; problems are strings naming page:line."""
    with open(os.path.join(root, page), encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    blocks, problems, index = [], [], 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            if lines[index].startswith("    ") and _RUNBOOK.match(lines[index].strip() + " "):
                problems.append("%s:%d: a command in an indented code block; put it in a ```bash block with a doc-test marker"
                                % (page, index + 1))
            index += 1
            continue
        marker_char, lang = fence.group(2), fence.group(3).lower()
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(marker_char[:3]):
            end += 1
        body = lines[index + 1:end]
        markers, above = [], index - 1
        while above >= 0 and MARKER.match(lines[above]):
            try:
                markers.insert(0, (above, parse_attrs(MARKER.match(lines[above]).group(1))))
            except ValueError as exc:
                problems.append("%s:%d: %s" % (page, above + 1, exc))
            above -= 1
        if lang in SHELL_LANGS:
            commands = _commands(page, body, index + 1)
            blocks.append(Block(page, index, end, lang, markers, commands))
            if len(markers) != len(commands):
                problems.append("%s:%d: the ```%s block has %d command(s) but %d doc-test marker(s) above it: one marker per "
                                "command, in order" % (page, index + 1, lang, len(commands), len(markers)))
            for (_line, attrs), command in zip(markers, commands):
                command.attrs = attrs
        else:
            for offset, raw in enumerate(body):
                if _RUNBOOK.match(raw + " "):
                    problems.append("%s:%d: a command in a ```%s block; mark the block as ```bash and add a doc-test marker"
                                    % (page, index + 2 + offset, lang or "(no language)"))
            if markers:
                problems.append("%s:%d: doc-test marker above a ```%s block (only shell blocks are run)" % (page, index + 1, lang))
        index = end + 1
    return lines, blocks, problems


def visible(lines):
    """The page's lines with HTML comments blanked (what a reader sees)."""
    text = re.sub(r"<!--.*?-->", lambda m: re.sub(r"[^\n]", " ", m.group(0)), "\n".join(lines), flags=re.S)
    return text.split("\n")


def _norm(text):
    return re.sub(r"\s+", " ", text.replace("`", "")).strip().lower()


def check_page(lines, blocks):
    """Problems with the markers of one parsed page."""
    problems, seen = [], {}
    shown = visible(lines)
    for block in blocks:
        for command in block.commands:
            where = command.key
            unknown = set(command.attrs) - KNOWN_ATTRS
            if unknown:
                problems.append("%s: unknown doc-test attribute(s) %s" % (where, ", ".join(sorted(unknown))))
            if command.skip:
                # The reason is written where the reader sees it: in the block or the text around it.
                near = _norm(" ".join(shown[max(0, block.start - 15):block.end + 11]))
                if _norm(command.skip) not in near:
                    problems.append("%s: skip reason %r is not in the page's visible text next to the block" % (where, command.skip))
            elif command.attrs:
                if not command.lines:
                    problems.append("%s: no line=\"...\": name the status line the command must print" % where)
                placeholders = _PLACEHOLDER.findall(command.text)
                if placeholders:
                    problems.append("%s: %s cannot be pasted as it is; show a value the sandbox has (or skip it, saying why)"
                                    % (where, ", ".join(placeholders)))
                if command.fresh and not command.fresh.startswith("state/"):
                    problems.append("%s: fresh=%r must be under state/" % (where, command.fresh))
            for dependency in command.setup:
                if dependency not in seen:
                    problems.append("%s: setup=%s names no earlier command id on %s" % (where, dependency, command.page))
            if command.name:
                if command.name in seen:
                    problems.append("%s: id=%s is used twice on the page" % (where, command.name))
                seen[command.name] = command
    return problems


def pages(root):
    """README.md and docs/*.md, relative to ``root``."""
    return ["README.md"] + sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "docs", "*.md")))


def collect(root):
    """``(commands, problems)`` over every page."""
    commands, problems = [], []
    for page in pages(root):
        lines, blocks, page_problems = parse_page(root, page)
        problems.extend(page_problems)
        problems.extend(check_page(lines, blocks))
        for block in blocks:
            commands.extend(block.commands)
    return commands, problems


def by_name(commands, page, name) -> Optional[DocCommand]:
    for command in commands:
        if command.page == page and command.name == name:
            return command
    return None
