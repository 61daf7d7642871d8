#!/bin/sh
# Enqueue, inspect and delete tuskq tasks over HTTP with curl.
# Usage: TUSKQ_API_URL=http://127.0.0.1:8090 TUSKQ_API_TOKEN=... sh curl.sh
set -eu
URL=${TUSKQ_API_URL:-http://127.0.0.1:8090}
api() { # METHOD PATH [BODY [CURL-ARGS...]]
  method=$1 path=$2 body=${3:-}
  shift 2
  if [ $# -gt 0 ]; then shift; fi
  if [ -n "$body" ]; then set -- -H "Content-Type: application/json" --data-binary "$body" "$@"; fi
  if [ -n "${TUSKQ_API_TOKEN:-}" ]; then set -- -H "Authorization: Bearer $TUSKQ_API_TOKEN" "$@"; fi
  curl -sS -X "$method" "$URL$path" "$@" # answers end with a newline
}

# One task, safe to retry: the same Idempotency-Key returns the same task.
KEY=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
api POST /v1/tasks '{"type":"email:send","payload":{"to":"ada@example.com"},"max_retry":5}' -H "Idempotency-Key: $KEY"
TASK=$(api POST /v1/tasks '{"type":"email:send","payload":{"to":"ada@example.com"},"max_retry":5}' -H "Idempotency-Key: $KEY")
ID=$(printf '%s' "$TASK" | sed 's/.*"id":"\([^"]*\)".*/\1/')
echo "task $ID"

# Continue the caller's trace: the task carries this trace ID.
api POST /v1/tasks '{"type":"email:send","payload":{}}' \
  -H "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

# State, retries, last error, result.
api GET "/v1/queues/default/tasks/$ID"

# Many tasks, a result per task: the bad one does not sink the others.
api POST /v1/tasks/batch '{"tasks":[{"type":"email:send","payload":{"to":"bob@example.com"}},{"type":"email:send","delay":"soon"}]}'

# Delete a waiting task (a running one is cancelled).
LATER=$(api POST /v1/tasks '{"type":"report:build","delay":"1h"}')
LATER_ID=$(printf '%s' "$LATER" | sed 's/.*"id":"\([^"]*\)".*/\1/')
api DELETE "/v1/queues/default/tasks/$LATER_ID"

# Errors are application/problem+json naming each field at fault.
api POST /v1/tasks '{"type":"email:send","delay":"soon","queue":"no-such-queue"}' -w '%{http_code}\n'
