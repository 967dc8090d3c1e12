"""Wall time and peak RSS of `python -m training.fit --dataset sample` (the offline default).

    python bench/bench_fit.py [--cold] [-- extra fit args]

--cold uses an empty JEWELREC_HOME, so the sample catalog is rendered too; otherwise it is rendered once
before timing. Targets: <= 120 s, <= 3 GB on 2 CPU cores. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--cold", action="store_true", help="include rendering the sample catalog")
    p.add_argument("fit_args", nargs="*", help="extra arguments for training.fit (after --)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "JEWELREC_HOME": str(Path(tmp) / "home")}
        if not args.cold:
            subprocess.run([sys.executable, "-c", "from jewelrec.catalog.sample import build_sample; build_sample(progress=False)"],
                           cwd=ROOT, env=env, check=True)
        cmd = [sys.executable, "-m", "training.fit", "--dataset", "sample", "--out", str(Path(tmp) / "bundle"),
               *args.fit_args]
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        config = json.loads((Path(tmp) / "bundle" / "config.json").read_text())
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    print(json.dumps({"benchmark": "fit-sample", "cold": args.cold, "args": args.fit_args, "wall_s": round(wall, 1),
                      "peak_rss_mb": round(peak_mb), "stages_s": config["fit"]["timings_s"],
                      "encoder": config["encoder"]["type"], "method": config["clustering"]["method"],
                      "k": config["n_clusters"], "metrics": config["metrics"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
