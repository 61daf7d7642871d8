package workflow

import (
	"fmt"
	"strings"

	"github.com/tuskq/tuskq/internal/suggest"
	"github.com/tuskq/tuskq/internal/taskspec"
)

// Node is a step's place in the graph: its name and the steps it waits
// for.
type Node struct {
	Name  string
	After []string
}

// Fields of the JSON form, as problems name them.
const (
	FieldID         = "id"
	FieldPolicy     = "policy"
	FieldSteps      = "steps"
	FieldOnSuccess  = "on_success"
	FieldOnComplete = "on_complete"
)

// CheckName returns what is wrong with a step name or workflow ID, or "".
// A name is 1 to MaxNameLength bytes of letters, digits, '_', '-', '.'
// and ':'.
func CheckName(s string) string {
	if s == "" {
		return "is empty; give it a name such as fetch or resize-1"
	}
	if len(s) > MaxNameLength {
		return fmt.Sprintf("is %d bytes long; at most %d are allowed", len(s), MaxNameLength)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' || r == ':') {
			return fmt.Sprintf("%q has the character %q; use letters, digits, '_', '-', '.' and ':'", s, r)
		}
	}
	return ""
}

// CheckPolicy returns what is wrong with a failure policy, or "". Empty
// means FailFast.
func CheckPolicy(p Policy) string {
	switch p {
	case "", FailFast, Continue:
		return ""
	}
	return fmt.Sprintf("%q is not a failure policy; use %s or %s", string(p), FailFast, Continue)
}

// Check reports every problem of a graph at once, naming the field as the
// JSON form does (steps[3].after[0]): names that are empty, malformed or
// used twice, after lists naming unknown steps (with the closest known
// name), naming a step twice or the step itself, and cycles.
func Check(nodes []Node) taskspec.Problems {
	var ps taskspec.Problems
	add := func(field, format string, args ...any) {
		ps = append(ps, taskspec.Problem{Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	if len(nodes) == 0 {
		add(FieldSteps, "a workflow needs at least one step")
		return ps
	}
	if len(nodes) > MaxSteps {
		add(FieldSteps, "%d steps; at most %d are allowed", len(nodes), MaxSteps)
		return ps
	}
	index := make(map[string]int, len(nodes))
	names := make([]string, 0, len(nodes))
	for i, n := range nodes {
		field := fmt.Sprintf("steps[%d].name", i)
		if msg := CheckName(n.Name); msg != "" {
			add(field, "%s", msg)
			continue
		}
		if j, dup := index[n.Name]; dup {
			add(field, "%q is the name of steps[%d] too; give each step its own name", n.Name, j)
			continue
		}
		index[n.Name] = i
		names = append(names, n.Name)
	}
	for i, n := range nodes {
		seen := make(map[string]bool, len(n.After))
		for j, a := range n.After {
			field := fmt.Sprintf("steps[%d].after[%d]", i, j)
			switch _, ok := index[a]; {
			case a == n.Name:
				add(field, "the step %q waits for itself; remove it from its after list", a)
			case !ok:
				hint := ""
				if len(names) <= 10_000 {
					if c, d := suggest.Closest(a, names); c != "" && c != n.Name && d <= 2 && d < len(a) {
						hint = fmt.Sprintf(" (did you mean %q?)", c)
					}
				}
				add(field, "names no step: %q%s; after lists the names of other steps of the workflow", a, hint)
			case seen[a]:
				add(field, "names %q twice; give each step once", a)
			}
			seen[a] = true
		}
	}
	if len(ps) > 0 {
		return ps
	}
	if cycle := findCycle(nodes, index); cycle != nil {
		add(fmt.Sprintf("steps[%d].after", index[cycle[0]]), "the steps wait for one another in a cycle: %s; a workflow must have no cycle", strings.Join(cycle, " → "))
	}
	return ps
}

// findCycle returns the names of a cycle (the first name repeated at its
// end, each step waiting for the next), or nil. It runs Kahn's algorithm
// over the edges after → step, then walks the after lists of a step left
// over until a name repeats.
func findCycle(nodes []Node, index map[string]int) []string {
	indeg := make([]int, len(nodes))
	next := make([][]int, len(nodes))
	for i, n := range nodes {
		indeg[i] = len(n.After)
		for _, a := range n.After {
			j := index[a]
			next[j] = append(next[j], i)
		}
	}
	queue := make([]int, 0, len(nodes))
	for i, d := range indeg {
		if d == 0 {
			queue = append(queue, i)
		}
	}
	for k := 0; k < len(queue); k++ {
		for _, d := range next[queue[k]] {
			if indeg[d]--; indeg[d] == 0 {
				queue = append(queue, d)
			}
		}
	}
	if len(queue) == len(nodes) {
		return nil
	}
	start := -1
	for i, d := range indeg {
		if d > 0 {
			start = i
			break
		}
	}
	// Every step left over waits for another step left over.
	pos := map[int]int{}
	var path []int
	for i := start; ; {
		if p, ok := pos[i]; ok {
			path = append(path[p:], i)
			break
		}
		pos[i] = len(path)
		path = append(path, i)
		for _, a := range nodes[i].After {
			if j := index[a]; indeg[j] > 0 {
				i = j
				break
			}
		}
	}
	out := make([]string, len(path))
	for k, i := range path {
		out[k] = nodes[i].Name
	}
	return out
}
