package bench

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// BullMQVersion is the bullmq release the bullmq phase installs.
const BullMQVersion = "6.7.0"

// IORedisVersion is the ioredis release installed beside it (BullMQ 6
// takes its Redis client as an optional peer dependency).
const IORedisVersion = "5.9.3"

// KeyBullMQ is the target key of BullMQ's rows.
const KeyBullMQ = "bullmq"

//go:embed bullmq/bench.cjs
var bullmqScript []byte

// BullMQDir is where the bullmq phase installs bullmq with npm and writes
// its script: $TUSKQ_BENCH_CACHE, else the user cache directory's
// tuskq-bench, then bullmq-<version>. Nothing of it is in the repository.
func BullMQDir() (string, error) {
	base := os.Getenv("TUSKQ_BENCH_CACHE")
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("bullmq: cache directory: %w", err)
		}
		base = filepath.Join(c, "tuskq-bench")
	}
	return filepath.Join(base, "bullmq-"+BullMQVersion), nil
}

// errNoNode says why the bullmq phase skips.
var errNoNode = errors.New("node or npm not on PATH")

// installBullMQ installs bullmq into dir with npm unless it is there, and
// writes the script; it returns the script's path.
func installBullMQ(ctx context.Context, opts Options, dir string) (string, error) {
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			return "", errNoNode
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("bullmq: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ioredis", "package.json")); err != nil {
		progress(opts, "bullmq     installing bullmq@%s and ioredis@%s with npm into %s", BullMQVersion, IORedisVersion, dir)
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private": true}`+"\n"), 0o644); err != nil {
			return "", fmt.Errorf("bullmq: %w", err)
		}
		cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--prefix", dir,
			"bullmq@"+BullMQVersion, "ioredis@"+IORedisVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("bullmq: npm install bullmq@%s ioredis@%s: %w\n%s", BullMQVersion, IORedisVersion, err, out)
		}
	}
	script := filepath.Join(dir, "bench.cjs")
	if err := os.WriteFile(script, bullmqScript, 0o644); err != nil {
		return "", fmt.Errorf("bullmq: %w", err)
	}
	return script, nil
}

// runBullMQ measures BullMQ on the same Redis as the other phases:
// throughput at opts.Concurrency, then pickup latency and idle cost with
// the latency phase's gaps, round by round. Without node and npm it
// writes one progress line and returns a section saying so.
func runBullMQ(ctx context.Context, env *Env, opts Options) (Section, error) {
	sec := Section{Key: PhaseBullMQ, Title: "BullMQ " + BullMQVersion + " on the same Redis"}
	dir, err := BullMQDir()
	if err != nil {
		return sec, err
	}
	script, err := installBullMQ(ctx, opts, dir)
	if errors.Is(err, errNoNode) {
		progress(opts, "bullmq     skipped: %v (install Node.js with npm to compare with BullMQ)", err)
		sec.About = "Skipped: " + err.Error() + "."
		return sec, nil
	}
	if err != nil {
		return sec, err
	}
	t := Target{Key: KeyBullMQ, Name: fmt.Sprintf("BullMQ %s, concurrency %d", BullMQVersion, opts.Concurrency)}
	var s series
	for round := 1; round <= opts.Rounds; round++ {
		r, err := bullmqThroughput(ctx, env, opts, dir, script)
		if err != nil {
			return sec, fmt.Errorf("round %d, throughput: %w", round, err)
		}
		l, err := bullmqLatency(ctx, env, opts, dir, script, rand.New(rand.NewPCG(opts.Seed, uint64(round))))
		if err != nil {
			return sec, fmt.Errorf("round %d, latency: %w", round, err)
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		progress(opts, "bullmq     round %d/%d  %-40s %8s tasks/s  worker %6s µs/task  redis %6s µs/task  p50 %6s ms  p99 %6s ms  idle %6s cmds/s",
			round, opts.Rounds, t.Name, Format(r.rate, 0), Format(r.workerCPU, 1), Format(r.redisCPU, 1),
			Format(ms(l.p50), 1), Format(ms(l.p99), 1), Format(l.idleCmds, 1))
		s.add(t, MetricThroughput, "tasks/s", 0, r.rate)
		s.add(t, MetricWorkerCPU, "µs", 1, r.workerCPU)
		s.add(t, MetricRedisCPU, "µs", 1, r.redisCPU)
		s.add(t, MetricRedisCmds, "", 1, r.redisCmds)
		s.add(t, MetricP50, "ms", 1, ms(l.p50))
		s.add(t, MetricP99, "ms", 1, ms(l.p99))
		s.add(t, MetricMax, "ms", 1, ms(l.max))
		s.add(t, MetricIdleCmds, "", 1, l.idleCmds)
		s.add(t, MetricIdleCPU, "% of a core", 2, l.idleCPU)
	}
	sec.About = fmt.Sprintf(`BullMQ %s, installed with npm into the user cache directory (never in the repository), run by internal/bench/bullmq/bench.cjs in a node process on the same Redis, one Worker of concurrency %d with no-op processors and jobs added with removeOnComplete. Throughput: %s jobs added with addBulk, then the Worker starts; as in the throughput phase, (jobs − 1) / (time of the last processor call − time of the first), worker CPU is the node process's CPU from just before the Worker starts, Redis CPU and commands the INFO deltas over the same span. Latency and idle cost: as in the latency phase (the same gaps, %d jobs added one at a time with Queue.add, each carrying the wall-clock time taken just before the add), the idle window counted once the Worker is ready. Run with --only throughput,latency,bullmq to have tuskq, bare asynq and BullMQ in one run.`,
		BullMQVersion, opts.Concurrency, Format(float64(opts.Tasks), 0), opts.LatencyTasks)
	sec.Rows = s.done()
	return sec, nil
}

// nodeProc is a running bench.cjs.
type nodeProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	errb  strings.Builder
	ended chan error
}

func startNode(ctx context.Context, dir, script string, args ...string) (*nodeProc, error) {
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	p := &nodeProc{cmd: cmd, ended: make(chan error, 1)}
	cmd.Stderr = &p.errb
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bullmq: start node: %w", err)
	}
	p.in, p.out = in, bufio.NewScanner(out)
	p.out.Buffer(make([]byte, 1<<20), 16<<20)
	return p, nil
}

// expect reads the next line, which must start with word; it returns the
// rest.
func (p *nodeProc) expect(word string) (string, error) {
	if !p.out.Scan() {
		return "", fmt.Errorf("bullmq: node ended before %q: %w\n%s", word, p.out.Err(), p.errb.String())
	}
	line := p.out.Text()
	rest, ok := strings.CutPrefix(line, word)
	if !ok {
		return "", fmt.Errorf("bullmq: node wrote %q, want %q", line, word)
	}
	return strings.TrimSpace(rest), nil
}

func (p *nodeProc) send(line string) error {
	_, err := io.WriteString(p.in, line+"\n")
	return err
}

// wait waits for node to exit (killing it after 30 s).
func (p *nodeProc) wait() error {
	_ = p.in.Close()
	go func() { p.ended <- p.cmd.Wait() }()
	select {
	case err := <-p.ended:
		if err != nil {
			return fmt.Errorf("bullmq: node: %w\n%s", err, p.errb.String())
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		killed := <-p.ended
		return fmt.Errorf("bullmq: node did not exit within 30 s of its last step; killed: %w", killed)
	}
}

func bullmqThroughput(ctx context.Context, env *Env, opts Options, dir, script string) (res throughputResult, err error) {
	if err := env.reset(ctx); err != nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, opts.WaitTimeout+time.Minute)
	defer cancel()
	p, err := startNode(wctx, dir, script, "throughput", env.host(), env.port(), strconv.Itoa(opts.Tasks), strconv.Itoa(opts.Concurrency))
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, p.wait()) }()
	if _, err := p.expect("filled"); err != nil {
		return res, err
	}
	before, err := env.snapshot(ctx)
	if err != nil {
		return res, err
	}
	if err := p.send("go"); err != nil {
		return res, err
	}
	doneLine, err := p.expect("done")
	if err != nil {
		return res, err
	}
	after, err := env.snapshot(ctx)
	if err != nil {
		return res, err
	}
	var d struct {
		Rate  float64 `json:"rate"`
		CPUUs float64 `json:"cpu_us"`
	}
	if err := json.Unmarshal([]byte(doneLine), &d); err != nil {
		return res, fmt.Errorf("bullmq: done line %q: %w", doneLine, err)
	}
	n := int64(opts.Tasks)
	res.rate = d.Rate
	res.workerCPU = d.CPUUs / float64(n)
	res.redisCPU = perTaskMicros(after.redisCPU-before.redisCPU, n)
	res.redisCmds = float64(after.redisCmds-before.redisCmds-1) / float64(n)
	return res, nil
}

func bullmqLatency(ctx context.Context, env *Env, opts Options, dir, script string, rng *rand.Rand) (res latencyResult, err error) {
	if err := env.reset(ctx); err != nil {
		return res, err
	}
	gaps := make([]string, opts.LatencyTasks)
	span := int64(opts.GapMax - opts.GapMin)
	for i := range gaps {
		gap := opts.GapMin
		if span > 0 {
			gap += time.Duration(rng.Int64N(span + 1))
		}
		gaps[i] = strconv.FormatFloat(float64(gap.Microseconds())/1000, 'f', 3, 64)
	}
	wctx, cancel := context.WithTimeout(ctx, opts.WaitTimeout+time.Minute+opts.IdleSettle+opts.IdleWindow)
	defer cancel()
	p, err := startNode(wctx, dir, script, "latency", env.host(), env.port(), strconv.Itoa(opts.Concurrency), strings.Join(gaps, ","))
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, p.wait()) }()
	if _, err := p.expect("idle"); err != nil {
		return res, err
	}
	if err := sleep(ctx, opts.IdleSettle); err != nil {
		return res, err
	}
	s0, err := env.snapshot(ctx)
	if err != nil {
		return res, err
	}
	if err := sleep(ctx, opts.IdleWindow); err != nil {
		return res, err
	}
	s1, err := env.snapshot(ctx)
	if err != nil {
		return res, err
	}
	window := s1.at.Sub(s0.at).Seconds()
	res.idleCmds = float64(s1.redisCmds-s0.redisCmds-1) / window
	res.idleCPU = 100 * (s1.redisCPU - s0.redisCPU).Seconds() / window
	if err := p.send("go"); err != nil {
		return res, err
	}
	doneLine, err := p.expect("done")
	if err != nil {
		return res, err
	}
	var msList []float64
	if err := json.Unmarshal([]byte(doneLine), &msList); err != nil {
		return res, fmt.Errorf("bullmq: done line: %w", err)
	}
	lats := make([]time.Duration, len(msList))
	for i, v := range msList {
		lats[i] = time.Duration(v * float64(time.Millisecond))
	}
	res.p50, res.p99, res.max = Percentile(lats, 50), Percentile(lats, 99), Percentile(lats, 100)
	return res, nil
}

// host and port split e.Addr for the node script.
func (e *Env) host() string {
	h, _, _ := strings.Cut(e.Addr, ":")
	return h
}

func (e *Env) port() string {
	_, p, _ := strings.Cut(e.Addr, ":")
	return p
}
