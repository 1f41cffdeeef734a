#!/usr/bin/env python3
"""Renders a peer's program to one YAML/JSON stream: `render.py kcl DIR OUT` or
`render.py jsonnet DIR OUT` (DIR as written by gen.py). Run under /usr/bin/time by peers.py."""
import sys


def main():
    tool, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
    if tool == "kcl":
        import kcl_lib.api as api

        result = api.API().exec_program(api.ExecProgramArgs(k_filename_list=[f"{src}/kcl/main.k"]))
        if result.err_message:
            sys.exit(f"kcl: {result.err_message}")
        text = result.yaml_result
    else:
        import _jsonnet

        text = _jsonnet.evaluate_file(f"{src}/jsonnet/main.jsonnet")
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
