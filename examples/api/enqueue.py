#!/usr/bin/env python3
"""Enqueue, inspect and delete tuskq tasks over HTTP with the standard library.

Usage: TUSKQ_API_URL=http://127.0.0.1:8090 TUSKQ_API_TOKEN=... python3 enqueue.py
"""
import json
import os
import urllib.error
import urllib.request
import uuid

URL = os.environ.get("TUSKQ_API_URL", "http://127.0.0.1:8090")
TOKEN = os.environ.get("TUSKQ_API_TOKEN", "")


class ApiError(Exception):
    """An RFC 9457 problem answered by the API."""

    def __init__(self, problem):
        super().__init__(f"{problem['status']} {problem['title']}: {problem['detail']}")
        self.problem = problem


def call(method, path, body=None, headers=None):
    req = urllib.request.Request(URL + path, method=method)
    if TOKEN:
        req.add_header("Authorization", "Bearer " + TOKEN)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, data, timeout=30) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as err:
        if err.headers.get_content_type() == "application/problem+json":
            raise ApiError(json.load(err)) from None
        raise


def enqueue(task_type, payload, idempotency_key=None, **options):
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return call("POST", "/v1/tasks", {"type": task_type, "payload": payload, **options}, headers)


def main():
    key = str(uuid.uuid4())
    task = enqueue("email:send", {"to": "ada@example.com"}, idempotency_key=key, max_retry=5)
    print(f"enqueued {task['type']} {task['id']} in {task['queue']} ({task['state']}), trace {task['trace_id']}")

    again = enqueue("email:send", {"to": "ada@example.com"}, idempotency_key=key, max_retry=5)
    assert again["id"] == task["id"], "the same Idempotency-Key must return the same task"
    print(f"retried with the same key: still {again['id']}")

    info = call("GET", f"/v1/queues/{task['queue']}/tasks/{task['id']}")
    print(f"state {info['state']}, retried {info['retried']} of {info['max_retry']}")

    batch = call("POST", "/v1/tasks/batch", {"tasks": [
        {"type": "email:send", "payload": {"to": "bob@example.com"}},
        {"type": "email:send", "payload": {"to": "eve@example.com"}, "delay": "soon"},
        {"type": "report:build", "payload_base64": "AAH/", "delay": "1h"},
    ]})
    print(f"batch: {batch['enqueued']} enqueued, {batch['failed']} failed")
    for result in batch["results"]:
        if result["status"] == 201:
            print(f"  task {result['index']}: {result['task']['id']} ({result['task']['state']})")
        else:
            for e in result["error"]["errors"]:
                print(f"  task {result['index']}: {result['status']} {e['field']}: {e['detail']}")

    later = enqueue("report:build", {"month": "2026-01"}, delay="1h")
    gone = call("DELETE", f"/v1/queues/{later['queue']}/tasks/{later['id']}")
    print(f"{gone['outcome']} {gone['id']} (was {gone['state']})")

    try:
        enqueue("email:send", {}, queue="no-such-queue")
    except ApiError as err:
        print(f"refused: {err}")
        for e in err.problem.get("errors", []):
            print(f"  {e['field']}: {e['detail']}")


if __name__ == "__main__":
    main()
