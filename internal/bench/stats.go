package bench

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// snapshot is the CPU and command counters at one moment.
type snapshot struct {
	at        time.Time
	selfCPU   time.Duration // user + system CPU of this process
	redisCPU  time.Duration // used_cpu_user + used_cpu_sys of redis-server
	redisCmds int64         // total_commands_processed
}

// snapshot reads this process's CPU time and the Redis counters.
func (e *Env) snapshot(ctx context.Context) (snapshot, error) {
	info, err := e.info(ctx, "cpu", "stats")
	if err != nil {
		return snapshot{}, err
	}
	s := snapshot{at: time.Now(), selfCPU: processCPU()}
	var secs [2]float64
	for i, k := range []string{"used_cpu_user", "used_cpu_sys"} {
		if secs[i], err = strconv.ParseFloat(info[k], 64); err != nil {
			return snapshot{}, fmt.Errorf("redis INFO cpu: field %s: %w", k, err)
		}
	}
	s.redisCPU = time.Duration((secs[0] + secs[1]) * float64(time.Second))
	if s.redisCmds, err = strconv.ParseInt(info["total_commands_processed"], 10, 64); err != nil {
		return snapshot{}, fmt.Errorf("redis INFO stats: field total_commands_processed: %w", err)
	}
	return s, nil
}

// info runs INFO for the sections and returns its fields.
func (e *Env) info(ctx context.Context, sections ...string) (map[string]string, error) {
	text, err := e.RDB.Info(ctx, sections...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis INFO %s: %w", strings.Join(sections, " "), err)
	}
	return parseInfo(text), nil
}

// infoField returns one field of an INFO section.
func (e *Env) infoField(ctx context.Context, section, field string) (string, error) {
	m, err := e.info(ctx, section)
	if err != nil {
		return "", err
	}
	v, ok := m[field]
	if !ok {
		return "", fmt.Errorf("redis INFO %s has no field %s", section, field)
	}
	return v, nil
}

// parseInfo parses the "key:value" lines of an INFO reply.
func parseInfo(text string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// rotate returns xs started at element round-1 (wrapping around), so that
// across rounds every target runs in every position once: a target that
// always ran right after another would inherit its after-effects (Redis
// memory, garbage, CPU frequency) in every round.
func rotate[T any](xs []T, round int) []T {
	if len(xs) == 0 {
		return xs
	}
	k := (round - 1) % len(xs)
	return append(append(make([]T, 0, len(xs)), xs[k:]...), xs[:k]...)
}
