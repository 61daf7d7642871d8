#!/bin/sh
# Example tuskq plugin for the exec runtime: the payload is on stdin, the
# result goes to stdout, stderr lines become log records with the task's
# trace_id. Exit 0: done; 75: retry later; anything else: failed for good.
set -eu
text=$(cat)
if [ -z "$text" ]; then
	echo "shout: empty payload; send the text to upper-case" >&2
	exit 64
fi
echo "shouting for task $TUSKQ_TASK_ID (attempt $((TUSKQ_TASK_RETRY + 1)))" >&2
printf '%s' "$text" | tr '[:lower:]' '[:upper:]'
