#!/usr/bin/env python3
"""Example tuskq plugin for the process runtime, standard library only.

Reads one JSON request per line on stdin, answers one JSON response per
line on stdout. Lines on stderr become log records carrying the task's
trace_id. See docs/plugins.md.
"""
import json
import os
import sys


def handle(req):
    text = req["payload"]["text"]
    if text.strip() == "":
        # An error with "retry": false archives the task at once.
        return {"id": req["id"], "error": "text is blank", "retry": False}
    print(f"counting {len(text)} characters", file=sys.stderr, flush=True)
    return {
        "id": req["id"],
        "result": {
            "words": len(text.split()),
            "lines": len(text.splitlines()),
            "version": os.environ.get("TUSKQ_PLUGIN_VERSION", ""),
        },
    }


def main():
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:  # ends when tuskq closes stdin
        req = json.loads(line)
        try:
            resp = handle(req)
        except Exception as e:  # a bug fails the task; it is retried
            resp = {"id": req["id"], "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(resp) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
