// Enqueue, inspect and delete tuskq tasks over HTTP with Node's built-in
// fetch (Node 18 or later).
//
// Usage: TUSKQ_API_URL=http://127.0.0.1:8090 TUSKQ_API_TOKEN=... node enqueue.mjs
import { randomUUID } from "node:crypto";

const URL = process.env.TUSKQ_API_URL ?? "http://127.0.0.1:8090";
const TOKEN = process.env.TUSKQ_API_TOKEN ?? "";

class ApiError extends Error {
  constructor(problem) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.problem = problem; // RFC 9457: type, title, status, detail, errors
  }
}

async function call(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (TOKEN) init.headers.Authorization = `Bearer ${TOKEN}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(URL + path, init);
  const data = await resp.json();
  if (!resp.ok) throw new ApiError(data);
  return data;
}

function enqueue(type, payload, { idempotencyKey, ...options } = {}) {
  const headers = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {};
  return call("POST", "/v1/tasks", { type, payload, ...options }, headers);
}

const key = randomUUID();
const task = await enqueue("email:send", { to: "ada@example.com" }, { idempotencyKey: key, max_retry: 5 });
console.log(`enqueued ${task.type} ${task.id} in ${task.queue} (${task.state}), trace ${task.trace_id}`);

const again = await enqueue("email:send", { to: "ada@example.com" }, { idempotencyKey: key, max_retry: 5 });
if (again.id !== task.id) throw new Error("the same Idempotency-Key must return the same task");
console.log(`retried with the same key: still ${again.id}`);

const info = await call("GET", `/v1/queues/${task.queue}/tasks/${task.id}`);
console.log(`state ${info.state}, retried ${info.retried} of ${info.max_retry}`);

const batch = await call("POST", "/v1/tasks/batch", {
  tasks: [
    { type: "email:send", payload: { to: "bob@example.com" } },
    { type: "email:send", payload: { to: "eve@example.com" }, delay: "soon" },
    { type: "report:build", payload_base64: "AAH/", delay: "1h" },
  ],
});
console.log(`batch: ${batch.enqueued} enqueued, ${batch.failed} failed`);
for (const r of batch.results) {
  if (r.status === 201) console.log(`  task ${r.index}: ${r.task.id} (${r.task.state})`);
  else for (const e of r.error.errors) console.log(`  task ${r.index}: ${r.status} ${e.field}: ${e.detail}`);
}

const later = await enqueue("report:build", { month: "2026-01" }, { delay: "1h" });
const gone = await call("DELETE", `/v1/queues/${later.queue}/tasks/${later.id}`);
console.log(`${gone.outcome} ${gone.id} (was ${gone.state})`);

try {
  await enqueue("email:send", {}, { queue: "no-such-queue" });
} catch (err) {
  if (!(err instanceof ApiError)) throw err;
  console.log(`refused: ${err.message}`);
  for (const e of err.problem.errors ?? []) console.log(`  ${e.field}: ${e.detail}`);
}
