package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// measureWave reads Redis used_memory and each worker's VmRSS.
func measureWave(ctx context.Context, env *Env, procs []*soakProc) (SoakWave, error) {
	var w SoakWave
	var err error
	if w.RedisUsedMemory, err = usedMemory(ctx, env); err != nil {
		return SoakWave{}, err
	}
	for _, p := range procs {
		st, err := procStatus(p.Pid())
		if err != nil {
			return SoakWave{}, fmt.Errorf("%s: %w", p.Name(), err)
		}
		w.WorkerRSS = append(w.WorkerRSS, st.rss)
	}
	return w, nil
}

// usedMemory is INFO memory used_memory.
func usedMemory(ctx context.Context, env *Env) (int64, error) {
	v, err := env.infoField(ctx, "memory", "used_memory")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis INFO memory: field used_memory: %w", err)
	}
	return n, nil
}

// procMem is the memory lines of /proc/<pid>/status, in bytes.
type procMem struct {
	rss, hwm int64
}

// procStatus reads VmRSS and VmHWM of a process.
func procStatus(pid int) (procMem, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return procMem{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	return parseProcStatus(path, b)
}

// parseProcStatus parses the VmRSS and VmHWM lines ("VmRSS:  1234 kB").
func parseProcStatus(path string, b []byte) (procMem, error) {
	var m procMem
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		var dst *int64
		switch {
		case !ok:
			continue
		case k == "VmRSS":
			dst = &m.rss
		case k == "VmHWM":
			dst = &m.hwm
		default:
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(v), " ")
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || unit != "kB" {
			return procMem{}, fmt.Errorf("%s: unexpected line %q", path, sc.Text())
		}
		*dst = n << 10
	}
	if m.rss == 0 || m.hwm == 0 {
		return procMem{}, fmt.Errorf("%s: no VmRSS or VmHWM line", path)
	}
	return m, nil
}

// sampler reads Redis used_memory and the workers' VmRSS every
// soakSampleEvery until stopped.
type sampler struct {
	cancel  context.CancelFunc
	done    chan struct{}
	samples []SoakSample
	err     error
}

func startSampler(env *Env, procs []*soakProc, start time.Time) *sampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(soakSampleEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			w, err := measureWave(ctx, env, procs)
			if err != nil {
				if ctx.Err() == nil {
					s.err = fmt.Errorf("memory sampler: %w", err)
				}
				return
			}
			s.samples = append(s.samples, SoakSample{ElapsedSec: time.Since(start).Seconds(),
				RedisUsedMemory: w.RedisUsedMemory, WorkerRSS: w.WorkerRSS})
		}
	}()
	return s
}

// stop ends the sampler and returns its samples; err is the run's error,
// joined with the sampler's own only when the run succeeded.
func (s *sampler) stop(err error) ([]SoakSample, error) {
	s.cancel()
	<-s.done
	if err == nil {
		err = s.err
	}
	return s.samples, err
}

// applySamples folds the samples into the peaks.
func (r *SoakResult) applySamples() {
	for _, smp := range r.Samples {
		r.RedisPeakUsedMemory = max(r.RedisPeakUsedMemory, smp.RedisUsedMemory)
		for i, v := range smp.WorkerRSS {
			if i < len(r.Workers) {
				r.Workers[i].MaxSampledRSS = max(r.Workers[i].MaxSampledRSS, v)
			}
		}
	}
}

// judge computes Growth, MemoryStable and Verdict from the second wave to
// the last.
func (r *SoakResult) judge() {
	r.Growth = nil
	r.MemoryStable = true
	if len(r.Waves) < 3 {
		r.Verdict = "not judged: fewer than 3 waves"
		return
	}
	from, to := r.Waves[1], r.Waves[len(r.Waves)-1]
	add := func(what string, a, b int64, tolPct float64, tolBytes int64) {
		g := SoakGrowth{What: what, From: a, To: b, TolPercent: tolPct, TolBytes: tolBytes}
		if a > 0 {
			g.Percent = 100 * float64(b-a) / float64(a)
		}
		g.OK = g.Bytes() < tolBytes || (a > 0 && g.Percent < tolPct)
		r.MemoryStable = r.MemoryStable && g.OK
		r.Growth = append(r.Growth, g)
	}
	add("Redis used_memory", from.RedisUsedMemory, to.RedisUsedMemory, soakRedisTolPct, soakRedisTolBytes)
	for i := range min(len(from.WorkerRSS), len(to.WorkerRSS)) {
		add(fmt.Sprintf("worker %d RSS", i+1), from.WorkerRSS[i], to.WorkerRSS[i], soakRSSTolPct, soakRSSTolBytes)
	}
	parts := make([]string, len(r.Growth))
	for i, g := range r.Growth {
		parts[i] = g.String()
	}
	span := fmt.Sprintf("from wave 2 to wave %d", len(r.Waves))
	if r.MemoryStable {
		r.Verdict = "memory not growing " + span + ": " + strings.Join(parts, "; ")
	} else {
		r.Verdict = ErrMemoryGrowing.Error() + " " + span + ": " + strings.Join(parts, "; ")
	}
}

// String describes the growth: "Redis used_memory 1.2 → 1.3 MiB (+0.1 MiB,
// +8.3 %; tolerance 2 MiB or 10 %): ok".
func (g SoakGrowth) String() string {
	verdict := "ok"
	if !g.OK {
		verdict = "TOO MUCH"
	}
	return fmt.Sprintf("%s %s → %s MiB (%s MiB, %s %%; tolerance %s MiB or %.0f %%): %s",
		g.What, mib(g.From, 1), mib(g.To, 1), signed(mib(g.Bytes(), 2)), signed(Format(g.Percent, 1)),
		mib(g.TolBytes, 0), g.TolPercent, verdict)
}

// growthError is the error of a run whose memory keeps growing: the
// verdict, every figure with its tolerance, the culprits marked TOO MUCH.
func (r *SoakResult) growthError() error {
	return fmt.Errorf("%w%s", ErrMemoryGrowing, strings.TrimPrefix(r.Verdict, ErrMemoryGrowing.Error()))
}
