package schedule

import "time"

// Tick is one task to enqueue for a schedule.
type Tick struct {
	// At is the tick the task stands for.
	At time.Time
	// Missed is, for the catch-up task of the once policy, the number of
	// missed ticks it stands for (itself included); 0 otherwise.
	Missed int
	// Late says the tick was missed (enqueued by the once or all policy).
	Late bool
}

// Plan is what a scheduler does for a schedule at a moment: the ticks to
// enqueue, oldest first, and how many ticks it drops.
type Plan struct {
	// Ticks are the tasks to enqueue, oldest first.
	Ticks []Tick
	// Dropped counts the ticks due that get no task: missed ticks under
	// skip, all but one under once, all but the newest MaxCatchUp under
	// all.
	Dropped int
	// Through is the newest tick due (zero when none is): once the plan is
	// carried out, the schedule's last tick.
	Through time.Time
}

// maxWalk bounds how many ticks Plan steps through one by one; beyond it
// (a long outage of a schedule of seconds) it jumps ahead, estimating the
// number of ticks jumped over.
const maxWalk = 100_000

// PlanTicks returns the plan for the ticks due after last (exclusive) up to
// now (inclusive). A zero last means the schedule has never ticked: only
// on-time ticks are due, and none is missed. A tick is on time while it is
// no older than Grace(tick); older ticks are missed and the Missed policy
// decides.
func (s *Schedule) PlanTicks(last, now time.Time) Plan {
	var p Plan
	if last.IsZero() {
		for t := s.Next(now.Add(-MaxGrace)); !t.IsZero() && !t.After(now); t = s.Next(t) {
			if now.Sub(t) < s.Grace(t) {
				p.Ticks = append(p.Ticks, Tick{At: t})
			}
			p.Through = t
		}
		return p
	}
	// missed keeps the newest missed ticks, up to MaxCatchUp.
	var missed []time.Time
	nMissed := 0
	walked := 0
	for t := s.Next(last); !t.IsZero() && !t.After(now); t = s.Next(t) {
		walked++
		if walked > maxWalk {
			// Jump to shortly before now: count the ticks skipped by the
			// schedule's current interval.
			step := s.Next(t).Sub(t)
			from := now.Add(-time.Duration(2*MaxCatchUp) * max(step, time.Second))
			if from.After(t) {
				// Counts the ticks t, t+step, ... before from; the walk
				// resumes at the first tick at or after from.
				nMissed += int(from.Sub(t) / max(step, time.Second))
				t = s.Next(from.Add(-time.Nanosecond))
				if t.After(now) {
					break
				}
			}
			walked = 0
		}
		p.Through = t
		if now.Sub(t) < s.Grace(t) {
			p.Ticks = append(p.Ticks, Tick{At: t})
			continue
		}
		nMissed++
		missed = append(missed, t)
		if len(missed) > MaxCatchUp {
			missed = missed[1:]
		}
	}
	if nMissed == 0 {
		return p
	}
	var late []Tick
	switch s.Missed {
	case MissedOnce:
		late = []Tick{{At: missed[len(missed)-1], Missed: nMissed, Late: true}}
	case MissedAll:
		for _, t := range missed {
			late = append(late, Tick{At: t, Late: true})
		}
	}
	p.Dropped = nMissed - len(late)
	p.Ticks = append(late, p.Ticks...)
	return p
}
