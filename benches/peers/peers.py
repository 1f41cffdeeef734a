#!/usr/bin/env python3
"""Side-by-side: obp, KCL and Jsonnet render one multi-tenant workload (gen.py) at several
sizes. For each size it checks that the three outputs hold the same documents, then prints
wall time and peak RSS per tool and phase as a Markdown table (see BENCHMARKS.md).

    peers.py OBP_BINARY WORKDIR N [N ...]    (run by run.sh, inside its virtual environment)
"""
import json
import os
import shutil
import subprocess
import tempfile
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = int(os.environ.get("OBP_PEERS_TIMEOUT", "900"))


def timed(cmd, cwd=None):
    """(wall seconds, peak RSS MB) of a command, or (None, None) after TIMEOUT."""
    # /usr/bin/time's report goes to a file of its own, never into the repository or the
    # directory being measured.
    fd, stats = tempfile.mkstemp(prefix="obp-peers-time-")
    os.close(fd)
    start = time.monotonic()
    try:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", stats, *cmd], cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.remove(stats)
        return None, None
    except subprocess.CalledProcessError as error:
        sys.exit(f"{' '.join(cmd)} failed:\n{error.stderr.decode()[-3000:]}")
    wall = time.monotonic() - start
    with open(stats) as f:
        rss_kb = int(f.read().split()[-1])
    os.remove(stats)
    return wall, rss_kb / 1024


def canonical(docs):
    return sorted(json.dumps(d, sort_keys=True) for d in docs if d is not None)


def obp_documents(out):
    docs = []
    for root, _, files in os.walk(out):
        for name in files:
            if name.endswith(".yaml") and name != "kustomization.yaml":
                with open(os.path.join(root, name)) as f:
                    docs.extend(yaml.safe_load_all(f))
    return docs


def main():
    obp, work, sizes = sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3:]]
    rows = []
    for n in sizes:
        src = os.path.join(work, f"n{n}")
        shutil.rmtree(src, ignore_errors=True)
        subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), str(n), src], check=True)
        stack = os.path.join(src, "obp")
        results = {
            "obp validate": timed([obp, "validate", stack]),
            "obp plan (no state)": timed([obp, "plan", stack]),
            "obp apply (to disk)": timed([obp, "apply", stack, "--auto-approve"]),
        }
        for tool in ("kcl", "jsonnet"):
            out = os.path.join(src, f"{tool}.out")
            results[f"{tool} (one stream)"] = timed([sys.executable, os.path.join(HERE, "render.py"), tool, src, out])
        expected = None
        if results["obp apply (to disk)"][0] is not None:
            expected = canonical(obp_documents(os.path.join(stack, "out")))
        for tool in ("kcl", "jsonnet"):
            if results[f"{tool} (one stream)"][0] is None or expected is None:
                continue
            with open(os.path.join(src, f"{tool}.out")) as f:
                text = f.read()
            docs = json.loads(text) if tool == "jsonnet" else list(yaml.safe_load_all(text))
            got = canonical(docs)
            if got != expected:
                missing = set(expected) - set(got)
                extra = set(got) - set(expected)
                sys.exit(f"{tool} differs from obp at n={n}: {len(missing)} documents only in obp, "
                         f"{len(extra)} only in {tool}; e.g.\n{next(iter(missing or extra))[:800]}")
        documents = len(expected) if expected is not None else None
        for phase, (wall, rss) in results.items():
            rows.append((n, documents, phase, wall, rss))
        shutil.rmtree(src, ignore_errors=True)
    print("| tenants | documents | tool / phase | wall | peak RSS |")
    print("|---:|---:|---|---:|---:|")
    for n, documents, phase, wall, rss in rows:
        wall_text = "timeout" if wall is None else f"{wall:.2f} s"
        rss_text = "—" if rss is None else f"{rss:.0f} MB"
        print(f"| {n:,} | {documents if documents is not None else '?'} | {phase} | {wall_text} | {rss_text} |")


if __name__ == "__main__":
    main()
