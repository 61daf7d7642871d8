package enqueuecli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/tasks"
)

const (
	// ChunkSize is the number of good lines enqueued per EnqueueMany call.
	ChunkSize = 1000
	// MaxLineBytes is the longest batch line accepted.
	MaxLineBytes = 16 << 20
	// listedLines is how many line numbers a summary lists per kind.
	listedLines = 10
	// progressEvery throttles the progress display.
	progressEvery = 100 * time.Millisecond
)

// chunk is a run of input lines: the good ones as requests, the bad ones
// with their reasons.
type chunk struct {
	reqs  []tasks.Request
	lines []int // input line of each request
	bad   []lineError
	last  int   // last line number read
	err   error // read error that ended the input, if any
}

// lineError is a problem with one input line.
type lineError struct {
	line int
	err  error
}

// batchStats counts what happened to the lines of a batch.
type batchStats struct {
	total, enqueued  int
	bad, dup, failed []int
	lastLine         int // last input line read
}

// runBatch enqueues the JSON lines of standard input.
func (c *command) runBatch(ctx context.Context, client *tasks.Client, cfg config.Config, def defaults) int {
	rctx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	chunks := make(chan chunk, 1)
	go readChunks(rctx, c.env.Stdin, def, chunks)

	out := bufio.NewWriterSize(c.env.Stdout, 64<<10)
	var (
		st       batchStats
		lastShow time.Time
		stopMsg  string
	)
	for {
		var (
			ch chunk
			ok bool
		)
		select {
		case ch, ok = <-chunks:
		case <-ctx.Done(): // the reader may be blocked reading a pipe
		}
		if !ok {
			break
		}
		c.clearProgress()
		ch = c.knownQueuesOnly(client, cfg, ch)
		st.bad = append(st.bad, badLines(ch.bad)...)
		st.total += len(ch.bad) + len(ch.reqs)
		st.lastLine = ch.last
		if stopMsg = c.enqueueChunk(ctx, client, cfg, ch, out, &st); stopMsg != "" {
			break
		}
		if ch.err != nil {
			c.errorf("read standard input: %v", ch.err)
			stopMsg = fmt.Sprintf("input after line %d was not read", ch.last)
			break
		}
		if c.env.IsTerminal && time.Since(lastShow) >= progressEvery {
			fmt.Fprintf(c.env.Stderr, "\r\x1b[K%d enqueued, %d not enqueued, %d lines read", st.enqueued, st.total-st.enqueued, ch.last)
			lastShow = time.Now()
		}
	}
	if stopMsg == "" && ctx.Err() != nil {
		// Interrupted between chunks.
		stopMsg = fmt.Sprintf("interrupted: input after line %d was not read", st.lastLine)
	}
	// The reader stops at its next line (it may be blocked reading a slow
	// pipe; it is not waited for).
	stopReading()
	c.clearProgress()
	fmt.Fprintln(c.env.Stderr, st.summary())
	if stopMsg != "" {
		fmt.Fprintln(c.env.Stderr, stopMsg)
	}
	switch {
	case len(st.failed) > 0 || len(st.dup) > 0 || stopMsg != "":
		return ExitFailure
	case len(st.bad) > 0:
		return ExitUsage
	}
	return ExitOK
}

// clearProgress erases the progress display, when there is one.
func (c *command) clearProgress() {
	if c.env.IsTerminal {
		fmt.Fprint(c.env.Stderr, "\r\x1b[K")
	}
}

// enqueueChunk enqueues the good lines of ch, writes a JSON line to out
// for each enqueued task and reports each failure by line. When Redis
// cannot be reached any more, or ctx is done, it reports that once instead
// of one message per line, and returns why the batch stops.
func (c *command) enqueueChunk(ctx context.Context, client *tasks.Client, cfg config.Config, ch chunk, out *bufio.Writer, st *batchStats) string {
	var (
		failures     []lineError
		redisTrouble bool
	)
	// Each request carries its line's traceparent (or --traceparent's) in
	// its headers; tasks.Client keeps it because ctx has no span.
	for i, r := range client.EnqueueMany(ctx, ch.reqs, c.flags.parallelism) {
		line := ch.lines[i]
		if r.Err == nil {
			tl := newTaskLine(r.Info)
			tl.Line = line
			if err := writeLine(out, tl); err != nil {
				c.errorf("write output: %v", err)
				return "stopped: standard output failed"
			}
			st.enqueued++
			continue
		}
		if isDuplicate(r.Err) {
			st.dup = append(st.dup, line)
		} else {
			st.failed = append(st.failed, line)
			redisTrouble = redisTrouble || !errors.Is(r.Err, tasks.ErrBadOptions)
		}
		failures = append(failures, lineError{line, r.Err})
	}
	if err := out.Flush(); err != nil {
		c.errorf("write output: %v", err)
		return "stopped: standard output failed"
	}
	var stop, stopErr string
	problems := ch.bad
	switch {
	case ctx.Err() != nil:
		stop = fmt.Sprintf("interrupted: input after line %d was not read", ch.last)
	case redisTrouble:
		if err := ping(ctx, client); err != nil {
			stopErr = fmt.Sprintf("cannot reach Redis at %s: %v", redisconn.Describe(cfg.Redis), err)
			stop = fmt.Sprintf("stopped: input after line %d was not read", ch.last)
		}
	}
	for _, f := range failures {
		// Once Redis is gone every line fails the same way: say it once.
		if stop != "" && !isDuplicate(f.err) && !errors.Is(f.err, tasks.ErrBadOptions) {
			continue
		}
		problems = append(problems, lineError{f.line, errors.New(enqueueFailure(f.err, cfg))})
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].line < problems[j].line })
	for _, p := range problems {
		// One line of output per problem, each naming the input line.
		for _, msg := range strings.Split(p.err.Error(), "\n") {
			fmt.Fprintf(c.env.Stderr, "line %d: %s\n", p.line, msg)
		}
	}
	if stopErr != "" {
		c.errorf("%s", stopErr)
	}
	return stop
}

// knownQueuesOnly moves the lines of ch whose queue is not known to its
// bad lines, as the HTTP API refuses such a task. When the running
// workers cannot be listed the lines are kept: their enqueue reports the
// failure.
func (c *command) knownQueuesOnly(client *tasks.Client, cfg config.Config, ch chunk) chunk {
	if c.queues == nil {
		c.queues = knownQueues(cfg, client)
	}
	reqs, lines := ch.reqs[:0], ch.lines[:0]
	for i, r := range ch.reqs {
		err := checkQueue(c.queues, cfg, taskspec.FieldQueue, r.Type, &r.Options)
		if errors.Is(err, ErrBadInput) {
			ch.bad = append(ch.bad, lineError{ch.lines[i], err})
			continue
		}
		reqs, lines = append(reqs, r), append(lines, ch.lines[i])
	}
	ch.reqs, ch.lines = reqs, lines
	sort.SliceStable(ch.bad, func(i, j int) bool { return ch.bad[i].line < ch.bad[j].line })
	return ch
}

// badLines returns the line numbers of bad.
func badLines(bad []lineError) []int {
	lines := make([]int, len(bad))
	for i, b := range bad {
		lines[i] = b.line
	}
	return lines
}

// isDuplicate reports whether an enqueue was refused because the task
// exists (--unique or a task ID in use).
func isDuplicate(err error) bool {
	return errors.Is(err, asynq.ErrDuplicateTask) || errors.Is(err, asynq.ErrTaskIDConflict)
}

// summary says what was and was not enqueued.
func (st batchStats) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "enqueued %d of %d tasks", st.enqueued, st.total)
	if not := st.total - st.enqueued; not > 0 {
		var parts []string
		for _, k := range []struct {
			name  string
			lines []int
		}{{"bad input", st.bad}, {"duplicate", st.dup}, {"failed", st.failed}} {
			if len(k.lines) > 0 {
				parts = append(parts, k.name+": "+listLines(k.lines))
			}
		}
		fmt.Fprintf(&b, "; %d not enqueued (%s)", not, strings.Join(parts, "; "))
	}
	return b.String()
}

// listLines formats ascending line numbers as "line 3" or "lines 3, 17,
// 20-25", runs of consecutive lines as ranges, listing at most listedLines
// items.
func listLines(lines []int) string {
	word := "lines "
	if len(lines) == 1 {
		word = "line "
	}
	var items []string
	more := 0
	for i := 0; i < len(lines); {
		j := i
		for j+1 < len(lines) && lines[j+1] == lines[j]+1 {
			j++
		}
		switch {
		case len(items) == listedLines:
			more += j - i + 1
		case j > i:
			items = append(items, fmt.Sprintf("%d-%d", lines[i], lines[j]))
		default:
			items = append(items, strconv.Itoa(lines[i]))
		}
		i = j + 1
	}
	s := word + strings.Join(items, ", ")
	if more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// readChunks reads r line by line, decodes each line and sends chunks of
// at most ChunkSize good lines (and at most ChunkSize bad ones), or fewer
// when no more input is buffered, until the input ends or ctx is done. It
// closes out.
func readChunks(ctx context.Context, r io.Reader, def defaults, out chan<- chunk) {
	defer close(out)
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		ch   chunk
		buf  []byte
		line int
	)
	send := func() bool {
		select {
		case out <- ch:
			ch = chunk{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		var (
			tooLong bool
			err     error
		)
		buf, tooLong, err = readLine(br, buf[:0])
		if err != nil {
			if !errors.Is(err, io.EOF) {
				ch.err = err
			}
			ch.last = line
			send()
			return
		}
		line++
		ch.last = line
		switch {
		case tooLong:
			ch.bad = append(ch.bad, lineError{line, &inputError{msg: fmt.Sprintf("the line is longer than %d bytes; store large payloads elsewhere and enqueue a reference", MaxLineBytes)}})
		case len(bytes.TrimSpace(buf)) == 0:
			continue
		default:
			req, err := DecodeLine(buf)
			if err != nil {
				ch.bad = append(ch.bad, lineError{line, err})
				break
			}
			def.apply(&req)
			ch.reqs = append(ch.reqs, req)
			ch.lines = append(ch.lines, line)
		}
		// Send a full chunk, or whatever was read when the next line is not
		// there yet, so that tasks from a slow pipe are not held back.
		full := len(ch.reqs) >= ChunkSize || len(ch.bad) >= ChunkSize
		if full || (br.Buffered() == 0 && len(ch.reqs)+len(ch.bad) > 0) {
			if !send() {
				return
			}
		}
	}
}

// readLine reads one line into buf without its line ending. A line longer
// than MaxLineBytes is consumed and reported as tooLong. At the end of the
// input it returns io.EOF.
func readLine(r *bufio.Reader, buf []byte) ([]byte, bool, error) {
	tooLong, read := false, false
	for {
		frag, err := r.ReadSlice('\n')
		read = read || len(frag) > 0
		if !tooLong {
			if len(buf)+len(frag) > MaxLineBytes+2 {
				tooLong = true
				buf = buf[:0]
			} else {
				buf = append(buf, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !(errors.Is(err, io.EOF) && read) {
			return buf, tooLong, err
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if len(buf) > MaxLineBytes {
			tooLong = true
		}
		return buf, tooLong, nil
	}
}
