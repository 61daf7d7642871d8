package asynqrdb

// This file holds the Lua that moves a workflow on (internal/workflow):
// recording a step's outcome, releasing the steps that waited for it,
// firing the callbacks and cancelling. It lives here because it reads
// asynq's task hash, builds asynq's keys and appends to asynq's task
// record; every step and callback is enqueued through tuskq_enqueue (the
// enqueue script's body, enqueue.go), so a released step wakes an idle
// worker like any other enqueue. The layout of a workflow's keys is
// described on WorkflowKeys.

// Fields of a step's asynq task hash naming its workflow: the workflow's
// key prefix and the step's name. asynq reads only its own fields by name,
// so they are invisible to asynq and asynqmon, like EnqueueField.
const (
	WorkflowField     = "tuskq_wf"
	WorkflowStepField = "tuskq_step"
)

// Headers the release adds to a step's task record.
const (
	// HeaderResults carries the results of the steps a step waits for, as
	// a JSON object of step name to result (a JSON string of the result's
	// bytes, or null for a result not kept), at most MaxInlineResults
	// bytes: a step that waits for many others gets the entries that fit,
	// in the order of its after list.
	HeaderResults = "tuskq-results"
	// HeaderCounts carries, on the on_complete callback, the workflow's
	// end: a JSON object with state, total, succeeded, failed, cancelled
	// and skipped.
	HeaderCounts = "tuskq-workflow-counts"
)

// Bounds of results.
const (
	// MaxInlineResults bounds the HeaderResults header of one step.
	MaxInlineResults = 64 << 10
	// MaxResult is the largest result a workflow keeps; a larger one is
	// dropped (the step still succeeds) and reads back as absent.
	MaxResult = 1 << 20
)

// The scripts spell MaxInlineResults as 65536 and MaxResult as 1048576
// (TestWorkflowBoundsInScripts).

// WorkflowCancelChannel is internal/taskcancel's channel; the scripts
// that cancel a workflow's released steps publish on it (a test of
// taskcancel pins the two together).
const WorkflowCancelChannel = "tuskq:{cancel}:task"

// Step names the callbacks are stored under (a step name cannot start
// with "~").
const (
	CallbackOnSuccess  = "~on_success"
	CallbackOnComplete = "~on_complete"
)

// workflowLua defines the workflow functions on top of enqueueLua.
//
//   - tuskq_wf_release(P, step, hname, hval) enqueues step (or a
//     callback) of the workflow whose keys start with P, with the header
//     hname: hval appended to its record when hname is given, marks its
//     task hash with WorkflowField and WorkflowStepField and counts it in
//     the meta hash's released (callbacks: callbacks) field, when it
//     stored the task; the record kept for the release is then deleted.
//     It answers the step's queue.
//   - tuskq_wf_outcome(taskKey, outcome) records that the step whose asynq
//     task hash is taskKey ended (succeeded, failed or cancelled), once:
//     a step not in state released is left alone (a re-run of a step
//     already recorded, a step of a cancelled workflow). On success it
//     keeps the task's result (asynq's result field) and releases every
//     dependant whose counter reaches zero; on failure it cancels the rest
//     (fail_fast) or skips the steps that depend on it (continue). Then,
//     when every step is accounted for, it finishes the workflow. It
//     answers nil for a task that is no workflow step, otherwise {recorded
//     (0/1), finished (0/1), queue, step, queue, step, ...} of the steps
//     released.
const workflowLua = enqueueLua + `
local function tuskq_pb_varint(n)
	local s = ""
	while n >= 128 do
		s = s .. string.char(n % 128 + 128)
		n = math.floor(n / 128)
	end
	return s .. string.char(n)
end
local function tuskq_pb_header(k, v)
	local e = "\10" .. tuskq_pb_varint(#k) .. k .. "\18" .. tuskq_pb_varint(#v) .. v
	return "\122" .. tuskq_pb_varint(#e) .. e
end
local function tuskq_wf_release(P, step, hname, hval)
	local spec = redis.call("HGET", P .. "spec", step)
	local msg = redis.call("HGET", P .. "msg", step)
	if not spec or not msg then
		return false
	end
	spec = cjson.decode(spec)
	if hname then
		msg = msg .. tuskq_pb_header(hname, hval)
	end
	local t = redis.call("TIME")
	local qp = "asynq:{" .. spec.q .. "}:"
	local kind, list, at = "0", qp .. "pending", t[1] .. string.format("%06d", tonumber(t[2])) .. "000"
	if spec.d and spec.d > 0 then
		kind, list, at = "2", qp .. "scheduled", tostring(tonumber(t[1]) + spec.d)
	end
	local key = qp .. "t:" .. spec.id
	local r = tuskq_enqueue({key, list, list, qp .. "tuskq:wake"}, {"0", kind, spec.n, spec.id, msg, at, "0"})
	if r[1] >= 1 then
		redis.call("HDEL", P .. "msg", step)
	end
	if r[1] == 1 and string.sub(step, 1, 1) ~= "~" then
		redis.call("HSET", key, "` + WorkflowField + `", P, "` + WorkflowStepField + `", step)
		redis.call("HINCRBY", P .. "meta", "released", 1)
	elseif r[1] == 1 then
		redis.call("HINCRBY", P .. "meta", "callbacks", 1)
	end
	return spec.q
end
local function tuskq_wf_results(P, step)
	local after = redis.call("HGET", P .. "after", step)
	if not after then
		return nil
	end
	local parts, size = {}, 2
	for _, name in ipairs(cjson.decode(after)) do
		local k = cjson.encode(name) .. ":"
		local v = redis.call("HGET", P .. "result", name)
		local e = k .. "null"
		if v then
			e = k .. cjson.encode(v)
			if size + #e + 1 > 65536 then
				e = k .. "null"
			end
		end
		if size + #e + 1 > 65536 then
			break
		end
		parts[#parts + 1] = e
		size = size + #e + 1
	end
	return "{" .. table.concat(parts, ",") .. "}"
end
local function tuskq_wf_finish(P)
	local meta = P .. "meta"
	local m = redis.call("HMGET", meta, "total", "done", "succeeded", "failed", "cancelled", "skipped", "cancel", "ttl", "finished")
	if m[9] or tonumber(m[2] or "0") < tonumber(m[1]) then
		return false
	end
	local state = "failed"
	if m[7] then
		state = "cancelled"
	elseif tonumber(m[3] or "0") == tonumber(m[1]) then
		state = "succeeded"
	end
	local t = redis.call("TIME")
	redis.call("HSET", meta, "state", state, "finished", tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)))
	if state == "succeeded" then
		tuskq_wf_release(P, "` + CallbackOnSuccess + `")
	end
	local counts = cjson.encode({state = state, total = tonumber(m[1]), succeeded = tonumber(m[3] or "0"),
		failed = tonumber(m[4] or "0"), cancelled = tonumber(m[5] or "0"), skipped = tonumber(m[6] or "0")})
	tuskq_wf_release(P, "` + CallbackOnComplete + `", "` + HeaderCounts + `", counts)
	redis.call("DEL", P .. "msg", P .. "wait", P .. "next")
	local ttl = tonumber(m[8] or "86400")
	for _, k in ipairs({"meta", "state", "result", "after", "spec"}) do
		redis.call("EXPIRE", P .. k, ttl)
	end
	return true
end
local function tuskq_wf_cancel_rest(P)
	local all = redis.call("HGETALL", P .. "state")
	local released, n = {}, 0
	for i = 1, #all, 2 do
		local s = all[i + 1]
		if s == "waiting" or s == "released" then
			redis.call("HSET", P .. "state", all[i], "cancelled")
			n = n + 1
			if s == "released" then
				local spec = cjson.decode(redis.call("HGET", P .. "spec", all[i]))
				released[#released + 1] = spec.q
				released[#released + 1] = spec.id
				redis.call("PUBLISH", "` + WorkflowCancelChannel + `", cjson.encode({queue = spec.q, id = spec.id}))
			end
		end
	end
	if n > 0 then
		redis.call("HINCRBY", P .. "meta", "cancelled", n)
		redis.call("HINCRBY", P .. "meta", "done", n)
	end
	return released
end
local function tuskq_wf_skip(P, step)
	local todo, i, n = {step}, 1, 0
	while i <= #todo do
		local nx = redis.call("HGET", P .. "next", todo[i])
		i = i + 1
		if nx then
			for _, d in ipairs(cjson.decode(nx)) do
				if redis.call("HGET", P .. "state", d) == "waiting" then
					redis.call("HSET", P .. "state", d, "skipped")
					n = n + 1
					todo[#todo + 1] = d
				end
			end
		end
	end
	if n > 0 then
		redis.call("HINCRBY", P .. "meta", "skipped", n)
		redis.call("HINCRBY", P .. "meta", "done", n)
	end
end
local function tuskq_wf_outcome(taskKey, outcome)
	local f = redis.call("HMGET", taskKey, "` + WorkflowField + `", "` + WorkflowStepField + `")
	local P, step = f[1], f[2]
	if not P or not step then
		return nil
	end
	if redis.call("HGET", P .. "state", step) ~= "released" then
		return {0, 0}
	end
	local meta = P .. "meta"
	redis.call("HSET", P .. "state", step, outcome)
	redis.call("HINCRBY", meta, outcome, 1)
	redis.call("HINCRBY", meta, "done", 1)
	local out = {1, 0}
	local m = redis.call("HMGET", meta, "state", "policy")
	if outcome == "succeeded" then
		local res = redis.call("HGET", taskKey, "result")
		if res and #res <= 1048576 then
			redis.call("HSET", P .. "result", step, res)
		end
		if m[1] == "running" then
			local nx = redis.call("HGET", P .. "next", step)
			if nx then
				for _, d in ipairs(cjson.decode(nx)) do
					if redis.call("HINCRBY", P .. "wait", d, -1) == 0 and redis.call("HGET", P .. "state", d) == "waiting" then
						local q = tuskq_wf_release(P, d, "` + HeaderResults + `", tuskq_wf_results(P, d))
						redis.call("HSET", P .. "state", d, "released")
						out[#out + 1] = q
						out[#out + 1] = d
					end
				end
			end
		end
	elseif m[1] == "running" then
		if m[2] == "fail_fast" then
			tuskq_wf_cancel_rest(P)
		else
			tuskq_wf_skip(P, step)
		end
	end
	if tuskq_wf_finish(P) then
		out[2] = 1
	end
	return out
end
`

// workflowDoneScript records that a step succeeded (see
// tuskq_wf_outcome). KEYS[1]: the step's task hash. It answers {-1} for a
// task that is no workflow step.
var workflowDoneScript = newScript(`
redis.replicate_commands()` + workflowLua + `
local r = tuskq_wf_outcome(KEYS[1], "succeeded")
if not r then
	return {-1}
end
return r
`)

// workflowStartScript releases the roots of a workflow (ARGV[2:]) whose
// keys start with ARGV[1], turning it from creating to running. KEYS[1]:
// its meta hash. It answers {queue, step, ...} of the steps released.
var workflowStartScript = newScript(`
redis.replicate_commands()` + workflowLua + `
local P = ARGV[1]
local st = redis.call("HGET", KEYS[1], "state")
if st == "creating" then
	redis.call("HSET", KEYS[1], "state", "running")
elseif st ~= "running" then
	return {}
end
local out = {}
for i = 2, #ARGV do
	local s = ARGV[i]
	if redis.call("HGET", P .. "state", s) == "waiting" and tonumber(redis.call("HGET", P .. "wait", s) or "0") == 0 then
		local q = tuskq_wf_release(P, s)
		redis.call("HSET", P .. "state", s, "released")
		out[#out + 1] = q
		out[#out + 1] = s
	end
end
return out
`)

// workflowCancelScript cancels the workflow whose keys start with
// ARGV[1]: every step not ended is marked cancelled (the running ones are
// asked to stop on WorkflowCancelChannel) and the workflow finishes. KEYS[1]:
// its meta hash. It answers {0} when the workflow had ended already,
// otherwise {1, queue, task ID, ...} of the steps that were released.
var workflowCancelScript = newScript(`
redis.replicate_commands()` + workflowLua + `
local P = ARGV[1]
local st = redis.call("HGET", KEYS[1], "state")
if st ~= "running" and st ~= "creating" then
	return {0}
end
redis.call("HSET", KEYS[1], "cancel", "1")
local rel = tuskq_wf_cancel_rest(P)
tuskq_wf_finish(P)
local out = {1}
for _, v in ipairs(rel) do
	out[#out + 1] = v
end
return out
`)
