// Package stackgrow grows a new goroutine's stack in one step. asynq runs
// every task on new goroutines whose stacks start small; a deep call path
// (middleware, a JSON log line, go-redis) then grows them several times,
// and each copy walks and adjusts every frame already on the stack. One
// copy made while the stack is still shallow costs far less. The tasks
// middleware (tasks.Instrument) and the worker's per-task base context
// both call Grow first.
package stackgrow

// Reserve is how many bytes of stack Grow makes room for: enough for a
// processor call wrapped in the middleware and a JSON log line through the
// context handler, and for asynq's and go-redis's calls that report a
// task's outcome, measured with BenchmarkMiddlewareChain's -goroutine cases
// in internal/bench.
const Reserve = 4 << 10

// Grow grows the calling goroutine's stack, if it is smaller, to hold
// Reserve bytes more than it uses now. A goroutine whose stack is already
// large pays only for clearing the array.
//
//go:noinline
func Grow() {
	var buf [Reserve]byte
	keep(&buf)
}

// keep stops the compiler from dropping Grow's array.
//
//go:noinline
func keep(*[Reserve]byte) {}
