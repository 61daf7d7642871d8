package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is the result of a benchmark run: where it ran and one Section per
// phase. It renders as Markdown (WriteMarkdown) or JSON (WriteJSON).
type Report struct {
	// Environment describes the machine, the Redis and the settings.
	Environment Environment `json:"environment"`
	// Sections hold the figures, one per phase, in the order they ran.
	Sections []Section `json:"sections"`
}

// Environment describes where and how a run was made.
type Environment struct {
	// Started is when the run began; DurationSec how long it took.
	Started     time.Time `json:"started"`
	DurationSec float64   `json:"duration_s"`
	// Command is the command line of the run.
	Command string `json:"command,omitempty"`
	// GoVersion, OS, Arch, NumCPU and GOMAXPROCS describe the machine.
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// RedisVersion and RedisAddr describe the Redis of the run.
	RedisVersion string `json:"redis_version"`
	RedisAddr    string `json:"redis_addr"`
	// AsynqVersion is the asynq module version built in.
	AsynqVersion string `json:"asynq_version"`
	// Tasks, Concurrency, Rounds, LatencyTasks and Seed are the options.
	Tasks        int    `json:"tasks"`
	Concurrency  int    `json:"concurrency"`
	Rounds       int    `json:"rounds"`
	LatencyTasks int    `json:"latency_tasks"`
	Seed         uint64 `json:"seed"`
}

// Section holds the figures of one phase.
type Section struct {
	// Key names the phase: one of Phases.
	Key string `json:"key"`
	// Title is the Markdown heading.
	Title string `json:"title"`
	// About says what was measured and how, in Markdown.
	About string `json:"about"`
	// Rows are the measured series, one per target and metric.
	Rows []Row `json:"rows"`
	// Ratios compare two rows round by round.
	Ratios []Ratio `json:"ratios,omitempty"`
	// Summary is a Markdown table condensing the rows, printed after the
	// ratios.
	Summary string `json:"summary,omitempty"`
	// Notes are remarks printed after the tables.
	Notes []string `json:"notes,omitempty"`
	// Soak holds every figure of the soak phase (nil in other phases).
	Soak *SoakResult `json:"soak,omitempty"`
}

// Row is one metric of one target, measured once per round.
type Row struct {
	// Target and TargetKey name the target (or enqueuer).
	Target    string `json:"target"`
	TargetKey string `json:"target_key"`
	// Metric and Unit name what was measured.
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	// Decimals is how many decimals the Markdown shows.
	Decimals int `json:"-"`
	// Rounds holds one value per round, Median their median.
	Rounds []float64 `json:"rounds"`
	Median float64   `json:"median"`
}

// Ratio is a per-round quotient of two rows and its median, or (added by
// addGoal) one row checked against an absolute goal. Goal, when positive,
// is the target the median should reach.
type Ratio struct {
	// Name says what is divided by what.
	Name string `json:"name"`
	// Rounds holds the quotient of each round, Median their median.
	Rounds []float64 `json:"rounds"`
	Median float64   `json:"median"`
	// Goal is the value the median should reach (0: none): at least Goal,
	// or at most Goal when AtMost is set. Met says whether it did (nil
	// without a goal).
	Goal   float64 `json:"goal,omitempty"`
	AtMost bool    `json:"at_most,omitempty"`
	Met    *bool   `json:"met,omitempty"`
	// Decimals is how many decimals the Markdown shows (2 for ratios).
	Decimals int `json:"-"`
}

// row returns the row of the target key and metric, or nil.
func (s *Section) row(targetKey, metric string) *Row {
	for i := range s.Rows {
		if s.Rows[i].TargetKey == targetKey && s.Rows[i].Metric == metric {
			return &s.Rows[i]
		}
	}
	return nil
}

// addRatio appends the ratio num/den of a metric, computed per round. It
// does nothing when either row is missing (a target left out of the run).
func (s *Section) addRatio(name, metric, num, den string, goal float64) {
	n, d := s.row(num, metric), s.row(den, metric)
	if n == nil || d == nil {
		return
	}
	r := Ratio{Name: name, Goal: goal, Decimals: 2}
	for i := range min(len(n.Rounds), len(d.Rounds)) {
		q := math.NaN()
		if d.Rounds[i] != 0 {
			q = n.Rounds[i] / d.Rounds[i]
		}
		r.Rounds = append(r.Rounds, q)
	}
	s.Ratios = append(s.Ratios, r.judge())
}

// addRatioAtMost is addRatio with a goal the median must not exceed.
func (s *Section) addRatioAtMost(name, metric, num, den string, goal float64) {
	n := len(s.Ratios)
	s.addRatio(name, metric, num, den, 0)
	if len(s.Ratios) > n {
		r := &s.Ratios[n]
		r.Goal, r.AtMost = goal, true
		*r = r.judge()
	}
}

// addGoal checks the rounds of one row against an absolute goal: at least
// goal, or at most goal when atMost. It does nothing when the row is
// missing.
func (s *Section) addGoal(name, metric, key string, goal float64, atMost bool, decimals int) {
	row := s.row(key, metric)
	if row == nil {
		return
	}
	r := Ratio{Name: name, Rounds: append([]float64(nil), row.Rounds...), Goal: goal, AtMost: atMost, Decimals: decimals}
	s.Ratios = append(s.Ratios, r.judge())
}

// judge computes the median and whether it meets the goal.
func (r Ratio) judge() Ratio {
	r.Median = Median(r.Rounds)
	r.Met = nil
	if r.Goal > 0 {
		met := r.Median >= r.Goal
		if r.AtMost {
			met = r.Median <= r.Goal
		}
		r.Met = &met
	}
	return r
}

// series collects per-round values of rows in the order they are first
// added.
type series struct {
	rows []Row
}

// add appends v to the row of the target and metric, creating the row.
func (s *series) add(t Target, metric, unit string, decimals int, v float64) {
	for i := range s.rows {
		if s.rows[i].TargetKey == t.Key && s.rows[i].Metric == metric {
			s.rows[i].Rounds = append(s.rows[i].Rounds, v)
			return
		}
	}
	s.rows = append(s.rows, Row{Target: t.Name, TargetKey: t.Key, Metric: metric, Unit: unit, Decimals: decimals, Rounds: []float64{v}})
}

// done computes the medians and returns the rows.
func (s *series) done() []Row {
	for i := range s.rows {
		s.rows[i].Median = Median(s.rows[i].Rounds)
	}
	return s.rows
}

// Median returns the median of vs (the mean of the middle two for an even
// count), ignoring NaNs; NaN when there is no value.
func Median(vs []float64) float64 {
	s := make([]float64, 0, len(vs))
	for _, v := range vs {
		if !math.IsNaN(v) {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// ds, which it sorts in place; 0 when ds is empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(p / 100 * float64(len(ds))))
	rank = max(1, min(rank, len(ds)))
	return ds[rank-1]
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport(r))
}

// jsonReport replaces NaNs, which encoding/json rejects, by nulls.
func jsonReport(r *Report) any {
	type jrow struct {
		Row
		Rounds []*float64 `json:"rounds"`
		Median *float64   `json:"median"`
	}
	type jratio struct {
		Ratio
		Rounds []*float64 `json:"rounds"`
		Median *float64   `json:"median"`
	}
	type jsection struct {
		Section
		Rows   []jrow   `json:"rows"`
		Ratios []jratio `json:"ratios,omitempty"`
	}
	num := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	nums := func(vs []float64) []*float64 {
		out := make([]*float64, len(vs))
		for i, v := range vs {
			out[i] = num(v)
		}
		return out
	}
	out := struct {
		Environment Environment `json:"environment"`
		Sections    []jsection  `json:"sections"`
	}{Environment: r.Environment}
	for _, s := range r.Sections {
		js := jsection{Section: s}
		for _, row := range s.Rows {
			js.Rows = append(js.Rows, jrow{Row: row, Rounds: nums(row.Rounds), Median: num(row.Median)})
		}
		for _, ra := range s.Ratios {
			js.Ratios = append(js.Ratios, jratio{Ratio: ra, Rounds: nums(ra.Rounds), Median: num(ra.Median)})
		}
		out.Sections = append(out.Sections, js)
	}
	return out
}

// WriteMarkdown writes the report as Markdown: the environment, then per
// section its description, a table of medians and per-round values, the
// ratios and the notes.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	e := r.Environment
	b.WriteString("## tuskq benchmark run\n\n")
	fmt.Fprintf(&b, "- started %s, took %.0f s", e.Started.UTC().Format(time.RFC3339), e.DurationSec)
	if e.Command != "" {
		fmt.Fprintf(&b, ": `%s`", e.Command)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- machine: %s/%s, %d CPUs (GOMAXPROCS %d), %s\n", e.OS, e.Arch, e.NumCPU, e.GOMAXPROCS, e.GoVersion)
	fmt.Fprintf(&b, "- Redis %s on %s, one server for the whole run; asynq %s\n", e.RedisVersion, e.RedisAddr, e.AsynqVersion)
	fmt.Fprintf(&b, "- %s rounds, targets interleaved within each round (the order rotated from round to round); figures are medians of the rounds\n", strconv.Itoa(e.Rounds))
	for _, s := range r.Sections {
		b.WriteString("\n### " + s.Title + "\n\n")
		if s.About != "" {
			b.WriteString(strings.TrimSpace(s.About) + "\n\n")
		}
		rounds := 0
		for _, row := range s.Rows {
			rounds = max(rounds, len(row.Rounds))
		}
		if len(s.Rows) > 0 {
			b.WriteString("| target | metric | median |")
			for i := range rounds {
				fmt.Fprintf(&b, " round %d |", i+1)
			}
			b.WriteString("\n|---|---|---:|" + strings.Repeat("---:|", rounds) + "\n")
		}
		for _, row := range s.Rows {
			fmt.Fprintf(&b, "| %s | %s | **%s** |", row.Target, metricLabel(row), Format(row.Median, row.Decimals))
			for i := range rounds {
				v := "–"
				if i < len(row.Rounds) {
					v = Format(row.Rounds[i], row.Decimals)
				}
				b.WriteString(" " + v + " |")
			}
			b.WriteString("\n")
		}
		if len(s.Ratios) > 0 {
			b.WriteString("\n| ratio or goal | median |")
			for i := range rounds {
				fmt.Fprintf(&b, " round %d |", i+1)
			}
			b.WriteString(" goal |\n|---|---:|" + strings.Repeat("---:|", rounds) + "---|\n")
			for _, ra := range s.Ratios {
				fmt.Fprintf(&b, "| %s | **%s** |", ra.Name, Format(ra.Median, ra.Decimals))
				for i := range rounds {
					v := "–"
					if i < len(ra.Rounds) {
						v = Format(ra.Rounds[i], ra.Decimals)
					}
					b.WriteString(" " + v + " |")
				}
				cmp := "≥"
				if ra.AtMost {
					cmp = "≤"
				}
				switch {
				case ra.Met == nil:
					b.WriteString(" – |\n")
				case *ra.Met:
					fmt.Fprintf(&b, " %s %s: met |\n", cmp, Format(ra.Goal, ra.Decimals))
				default:
					fmt.Fprintf(&b, " %s %s: **not met** |\n", cmp, Format(ra.Goal, ra.Decimals))
				}
			}
		}
		if s.Summary != "" {
			b.WriteString("\n" + s.Summary)
		}
		if len(s.Notes) > 0 {
			b.WriteString("\n")
			for _, n := range s.Notes {
				b.WriteString("- " + n + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func metricLabel(r Row) string {
	if r.Unit == "" {
		return r.Metric
	}
	return r.Metric + " (" + r.Unit + ")"
}

// Format renders v with the given decimals and thousands separators; NaN
// renders as "n/a".
func Format(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', decimals, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if v < 0 && strings.Trim(s, "0.") != "" {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}
