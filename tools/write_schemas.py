"""Write schemas/*.json from the definitions in plugins/module_utils (the single source).

``python tools/write_schemas.py`` rewrites them; ``--check`` exits 1 when a file is out of date.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import manifest  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.pipeline import promotion  # noqa: E402  pylint: disable=wrong-import-position

SCHEMAS = {"receipt.v1.schema.json": receipts.RECEIPT_V1_SCHEMA,
           "pipeline_manifest.v1.json": manifest.MANIFEST_V1_SCHEMA,
           "pipeline_model_selector.v1.json": promotion.SELECTOR_V1_SCHEMA}


def main(argv):
    stale = []
    for name, schema in SCHEMAS.items():
        path = os.path.join(ROOT, "schemas", name)
        text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        current = open(path).read() if os.path.exists(path) else None
        if current != text:
            stale.append(name)
            if "--check" not in argv:
                with open(path, "w") as handle:
                    handle.write(text)
    if stale and "--check" in argv:
        print("out of date: %s (run python tools/write_schemas.py)" % ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
