package insight

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// simType is one task type of the simulated fleet.
type simType struct {
	typ, queue string
	rate       float64 // arrivals per second
	median     time.Duration
	sigma      float64 // of the log-normal duration
	fail       float64
	errText    string
	// worker, when >= 0, fails every attempt of this type it runs, with
	// workerErr.
	worker    int
	workerErr string
	version   string
	// failByVersion overrides fail and errText for a plugin version.
	failByVersion map[string]float64
	errByVersion  map[string]string
}

// sim is a fleet of workers processing a mix of task types, each worker
// aggregating with a real Recorder, under a fake clock. Honest where it
// matters: arrivals are Poisson, durations log-normal, failures Bernoulli,
// work goes to random workers; a stalled queue keeps receiving tasks and
// processes none.
type sim struct {
	rng     *rand.Rand
	now     time.Time
	workers []*Recorder
	types   []*simType
	pending map[string]int
	done    map[string]int
	stalled map[string]bool
	seq     int
	// slow is the share of a queue's arrivals its workers keep up with
	// (1 when absent); the rest piles up.
	slow map[string]float64
	// workerVer overrides a type's version on a worker: [worker][type].
	workerVer map[int]map[string]string
}

// verOf is the version of typ on worker w.
func (s *sim) verOf(w int, typ string) string {
	if v, ok := s.workerVer[w][typ]; ok {
		return v
	}
	for _, t := range s.types {
		if t.typ == typ {
			return t.version
		}
	}
	return ""
}

// workersVersion deploys version vs[w] of typ on the workers w.
func (s *sim) workersVersion(typ string, vs map[int]string) {
	for w, v := range vs {
		if s.workerVer[w] == nil {
			s.workerVer[w] = map[string]string{}
		}
		s.workerVer[w][typ] = v
	}
}

func newSim(seed uint64, workers int, types []*simType) *sim {
	s := &sim{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: time.Date(2026, 12, 8, 14, 0, 0, 0, time.UTC),
		types: types, pending: map[string]int{}, done: map[string]int{}, stalled: map[string]bool{},
		workerVer: map[int]map[string]string{}, slow: map[string]float64{}}
	queues := map[string]bool{}
	for _, t := range types {
		queues[t.queue] = true
		if t.worker == 0 && t.workerErr == "" {
			t.worker = -1
		}
	}
	var qs []string
	for q := range queues {
		qs = append(qs, q)
	}
	for i := range workers {
		s.workers = append(s.workers, NewRecorder(RecorderOptions{
			Worker: fmt.Sprintf("w%02d", i+1), Queues: qs, Now: func() time.Time { return s.now },
			Version: func(typ string) string { return s.verOf(i, typ) },
		}))
	}
	return s
}

// demoMix is the demo's mix of task types with a few more, over four
// queues.
func demoMix() []*simType {
	return []*simType{
		{typ: "demo:echo", queue: "critical", rate: 10, median: 500 * time.Microsecond, sigma: 0.5, worker: -1},
		{typ: "payment:charge", queue: "critical", rate: 5, median: 80 * time.Millisecond, sigma: 0.3, fail: 0.003, errText: "card declined", worker: -1},
		{typ: "demo:sleep", queue: "default", rate: 3, median: 200 * time.Millisecond, sigma: 0.6, worker: -1},
		{typ: "http:request", queue: "default", rate: 2, median: 20 * time.Millisecond, sigma: 0.6, fail: 0.005, errText: "POST http://127.0.0.1:8080/hook: status 503", worker: -1},
		{typ: "demo:fail", queue: "default", rate: 1, median: time.Millisecond, sigma: 0.3, fail: 0.5, errText: "demo:fail: failing attempt 1 as asked", worker: -1},
		{typ: "email:send", queue: "default", rate: 3, median: 30 * time.Millisecond, sigma: 0.4, fail: 0.001, errText: "smtp: 421 try again later", worker: -1},
		{typ: "image:resize", queue: "default", rate: 2, median: 150 * time.Millisecond, sigma: 0.3, worker: -1},
		{typ: "demo:sleep", queue: "low", rate: 0.5, median: 200 * time.Millisecond, sigma: 0.1, worker: -1},
		{typ: "report:build", queue: "reports", rate: 0.5, median: time.Second, sigma: 0.4, worker: -1},
	}
}

func (s *sim) poisson(l float64) int {
	if l > 30 {
		return max(0, int(math.Round(l+math.Sqrt(l)*s.rng.NormFloat64())))
	}
	limit, p, k := math.Exp(-l), 1.0, 0
	for {
		p *= s.rng.Float64()
		if p <= limit {
			return k
		}
		k++
	}
}

// step advances the fleet by dt.
func (s *sim) step(dt time.Duration) {
	s.now = s.now.Add(dt)
	for _, t := range s.types {
		n := s.poisson(t.rate * dt.Seconds())
		if s.stalled[t.queue] {
			s.pending[t.queue] += n
			continue
		}
		if f, ok := s.slow[t.queue]; ok {
			s.pending[t.queue] += n
			n = min(s.pending[t.queue], s.poisson(f*t.rate*dt.Seconds()))
			s.pending[t.queue] -= n
		}
		for range n {
			w := s.rng.IntN(len(s.workers))
			d := time.Duration(float64(t.median) * math.Exp(t.sigma*s.rng.NormFloat64()))
			fail, text := t.fail, t.errText
			if f, ok := t.failByVersion[s.verOf(w, t.typ)]; ok {
				fail, text = f, t.errByVersion[s.verOf(w, t.typ)]
			}
			failed := s.rng.Float64() < fail
			if t.worker == w {
				failed, text = true, t.workerErr
			}
			s.seq++
			x := Example{TaskID: fmt.Sprintf("task-%d", s.seq), TraceID: fmt.Sprintf("%032x", s.seq), Error: text}
			s.workers[w].Sink(t.typ, t.queue).Observe(d, failed, failed, x)
			s.done[t.queue]++
		}
	}
}

// snaps returns every worker's snapshot.
func (s *sim) snaps() []WorkerSnapshot {
	out := make([]WorkerSnapshot, len(s.workers))
	for i, w := range s.workers {
		out[i] = w.Snapshot()
	}
	return out
}

// queues returns the queue sizes: a small random backlog, plus what a
// stalled queue accumulated.
func (s *sim) queues() []QueueStat {
	seen := map[string]bool{}
	var out []QueueStat
	for _, t := range s.types {
		if seen[t.queue] {
			continue
		}
		seen[t.queue] = true
		p := s.pending[t.queue]
		if _, slow := s.slow[t.queue]; !s.stalled[t.queue] && !slow {
			p = s.rng.IntN(3)
			s.pending[t.queue] = p
		}
		out = append(out, QueueStat{Name: t.queue, Pending: p, Done: s.done[t.queue]})
	}
	return out
}

// typ returns the sim type of name on queue.
func (s *sim) typ(name, queue string) *simType {
	for _, t := range s.types {
		if t.typ == name && t.queue == queue {
			return t
		}
	}
	panic("no sim type " + queue + "/" + name)
}
