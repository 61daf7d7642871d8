// BullMQ side of tuskq's load driver (cmd/bench, phase "bullmq"). The
// driver installs bullmq with npm into a cache directory, sets NODE_PATH
// to it and runs this script; the two talk in lines: the script writes a
// word when it reaches a step, the driver answers "go" on stdin once it
// has read Redis's counters.
//
//   node bench.cjs throughput HOST PORT TASKS CONCURRENCY
//     adds TASKS no-op jobs (addBulk, removeOnComplete), writes "filled",
//     waits for "go", starts a Worker and writes "done {rate, cpu_us}"
//     when the last job's processor runs: rate is (TASKS-1) / (time of
//     the last processor call - time of the first), cpu_us the CPU time of
//     this process from just before the Worker started.
//   node bench.cjs latency HOST PORT CONCURRENCY GAPS_MS
//     starts a Worker, writes "idle" once it is ready, waits for "go",
//     then adds one job per gap (comma-separated milliseconds to sleep
//     before each), each carrying the wall-clock time taken just before
//     Queue.add, and writes "done [latencies in ms]".
'use strict';

const { Queue, Worker } = require('bullmq');
const readline = require('node:readline');

const QUEUE = 'tuskq-bench';
const [mode, host, port, ...rest] = process.argv.slice(2);
const connection = { host, port: Number(port), maxRetriesPerRequest: null };
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function say(s) {
  process.stdout.write(s + '\n');
}

async function expect(word) {
  const { value, done } = await lines.next();
  if (done || value.trim() !== word) {
    throw new Error(`expected "${word}" on stdin, got ${done ? 'end of input' : JSON.stringify(value)}`);
  }
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function throughput(n, concurrency) {
  const queue = new Queue(QUEUE, { connection });
  const opts = { removeOnComplete: true, removeOnFail: true };
  for (let i = 0; i < n; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) batch.push({ name: 'bench', data: {}, opts });
    await queue.addBulk(batch);
  }
  say('filled');
  await expect('go');
  let count = 0;
  let first = 0;
  let last = 0;
  let finish;
  const done = new Promise((r) => (finish = r));
  const cpu0 = process.cpuUsage();
  const worker = new Worker(QUEUE, async () => {
    const t = performance.now();
    count++;
    if (count === 1) first = t;
    if (count === n) {
      last = t;
      finish();
    }
  }, { connection, concurrency });
  await done;
  const cpu = process.cpuUsage(cpu0);
  say('done ' + JSON.stringify({ rate: (n - 1) / ((last - first) / 1000), cpu_us: cpu.user + cpu.system }));
  await worker.close();
  await queue.close();
}

async function latency(concurrency, gaps) {
  const queue = new Queue(QUEUE, { connection });
  const lats = [];
  let finish;
  const done = new Promise((r) => (finish = r));
  const worker = new Worker(QUEUE, async (job) => {
    lats.push(now() - job.data.t);
    if (lats.length === gaps.length) finish();
  }, { connection, concurrency });
  await worker.waitUntilReady();
  say('idle');
  await expect('go');
  for (const gap of gaps) {
    await sleep(gap);
    await queue.add('bench', { t: now() }, { removeOnComplete: true, removeOnFail: true });
  }
  await done;
  say('done ' + JSON.stringify(lats));
  await worker.close();
  await queue.close();
}

async function main() {
  if (mode === 'throughput') {
    await throughput(Number(rest[0]), Number(rest[1]));
  } else if (mode === 'latency') {
    await latency(Number(rest[0]), rest[1].split(',').map(Number));
  } else {
    throw new Error(`unknown mode ${JSON.stringify(mode)}: want throughput or latency`);
  }
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`bullmq bench: ${err.stack || err}\n`);
  process.exit(1);
});
