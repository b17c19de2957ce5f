"""Every command README.md and docs/*.md show is marked for tests/integration/test_doc_commands.py."""

import os

import pytest

from tests import doc_commands
from tests.conftest import REPO_ROOT


def test_every_shell_command_in_the_docs_has_a_marker():
    _commands, problems = doc_commands.collect(REPO_ROOT)
    assert not problems, "\n".join(problems)


def write(tmp_path, text):
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "README.md").write_text(text)
    return doc_commands.collect(str(tmp_path))


def test_an_unmarked_command_fails(tmp_path):
    _commands, problems = write(tmp_path, "# x\n\n```bash\nansible-playbook -i inventories/local playbooks/daily.yml\n```\n")
    assert problems == ["README.md:3: the ```bash block has 1 command(s) but 0 doc-test marker(s) above it: one marker per "
                        "command, in order"]


def test_a_runbook_command_outside_a_shell_block_fails(tmp_path):
    _commands, problems = write(tmp_path, "```\nmake demo\n```\n\n    ansible-playbook playbooks/daily.yml\n")
    assert len(problems) == 2 and "mark the block as ```bash" in problems[0] and "indented code block" in problems[1]


def test_a_skip_reason_must_be_visible_and_a_run_must_name_its_line(tmp_path):
    text = ('<!-- doc-test: skip="needs a real EC2 runner" -->\n<!-- doc-test: exit=0 -->\n'
            "```bash\nmake a\nmake b <placeholder>\n```\n")
    _commands, problems = write(tmp_path, text)
    assert any("skip reason 'needs a real EC2 runner' is not in the page's visible text" in p for p in problems)
    assert any("no line=" in p for p in problems) and any("<placeholder> cannot be pasted" in p for p in problems)
    _commands, problems = write(tmp_path, "Not here: needs a real EC2 runner.\n\n" + text.replace(" <placeholder>", "").replace(
        "exit=0", 'exit=0 line="ok"'))
    assert problems == []


def test_markers_parse_in_order_with_preludes_and_continuations(tmp_path):
    text = ('<!-- doc-test: exit=0 line="a status=ok" line="b" id=first -->\n'
            '<!-- doc-test: exit=2 line="reason=x" setup=first fresh=state/receipts/r1 -->\n'
            "```bash\nsource .sandbox/env.sh\nR=state/receipts/r1\nansible-playbook p.yml \\\n  -e x=1   # a comment\n"
            "ansible-playbook q.yml -e 'y=a # b' --check\n```\n")
    commands, problems = write(tmp_path, text)
    assert problems == []
    first, second = commands
    assert (first.lineno, first.exit, first.lines, first.preludes) == (6, 0, ["a status=ok", "b"], ("source .sandbox/env.sh", "R=state/receipts/r1"))
    assert first.text == "ansible-playbook p.yml \\\n  -e x=1" and not first.check_mode
    assert (second.exit, second.setup, second.fresh, second.check_mode) == (2, ["first"], "state/receipts/r1", True)
    assert second.text == "ansible-playbook q.yml -e 'y=a # b' --check"


@pytest.mark.parametrize("page", doc_commands.pages(REPO_ROOT))
def test_pages_exist(page):
    assert os.path.exists(os.path.join(REPO_ROOT, page))
