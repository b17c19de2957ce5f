# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The example pipeline's "training": a candidate model run as pipeline_promote.yml expects one.

    python3 roles/pipeline/files/example/train.py minutes m-2026-01-a [--scale 1.0] [--model-root state/pipeline/models]

writes ``<model root>/<model>/<run_id>/`` with ``model.bin`` and ``meta.json`` (``model``, ``run_id``,
``created_at``, ``metrics``, ``params`` with the ``scale`` the example ``scores`` step multiplies its
scores by, and ``files``), then prints ``trained model=<model> run_id=<run_id> artifact_dir=<dir>``.
A real trainer writes the same shape of meta.json next to its artifacts.
"""

import argparse
import datetime
import hashlib
import json
import os


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("run_id")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--model-root", default=os.path.join("state", "pipeline", "models"))
    args = parser.parse_args()
    directory = os.path.abspath(os.path.join(args.model_root, args.model, args.run_id))
    os.makedirs(directory, exist_ok=True)
    weights = hashlib.sha256(("%s:%s:%s" % (args.model, args.run_id, args.scale)).encode()).digest()
    with open(os.path.join(directory, "model.bin"), "wb") as handle:
        handle.write(weights)
    meta = {"model": args.model, "run_id": args.run_id,
            "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "metrics": {"mae": round(3.0 + weights[0] / 255.0, 3)}, "params": {"scale": args.scale}, "files": ["model.bin"]}
    with open(os.path.join(directory, "meta.json"), "w") as handle:
        json.dump(meta, handle, indent=2, sort_keys=True)
        handle.write("\n")
    print("trained model=%s run_id=%s artifact_dir=%s" % (args.model, args.run_id, directory))


if __name__ == "__main__":
    main()
