#!/usr/bin/env bash
# ansible-test sanity on a private copy of the working tree, so several people (or agents) can run
# it at once without sharing .build/. Usage: tools/sanity-subset.sh [ansible-test sanity args...]
#   tools/sanity-subset.sh --test validate-modules plugins/modules/ecs_run_task.py
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/sanity.XXXXXX)"
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/signalcraft/ops"
mkdir -p "$dest"
cd "$root"
git ls-files -z --cached --others --exclude-standard | grep -zv '^collections/' | xargs -0 cp --parents -t "$dest" 2>/dev/null || true
cd "$dest" && git init -q && git add -A
"$root/.venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
