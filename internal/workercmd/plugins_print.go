package workercmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/plugins/fleetstate"
)

// pluginView is one plugin as list and show print it.
type pluginView struct {
	fleetstate.PluginState
	// Known is false for a plugin that has no fleet state (enabled, no
	// overrides).
	Known   bool           `json:"has_state"`
	Workers []workerPlugin `json:"workers"`
	// Published is the plugin's published bundle (null when it is not
	// published).
	Published *fleetstate.PublishedPlugin `json:"published"`
}

// workerPlugin is one worker's report about one plugin.
type workerPlugin struct {
	Worker string `json:"worker"`
	fleetstate.PluginReport
}

// view builds the view of plugin name.
func (f fleet) view(name string) pluginView {
	ps, ok := f.states[name]
	if !ok {
		ps = fleetstate.PluginState{Name: name, Enabled: true}
	}
	v := pluginView{PluginState: ps, Known: ok, Workers: []workerPlugin{}}
	for i := range f.published {
		if f.published[i].Name == name {
			v.Published = &f.published[i]
		}
	}
	for _, w := range f.workers {
		for _, p := range w.Plugins {
			if p.Name == name {
				v.Workers = append(v.Workers, workerPlugin{Worker: w.Worker, PluginReport: p})
			}
		}
	}
	return v
}

func (c *pluginsCmd) list(ctx context.Context) int {
	f, code := c.read(ctx)
	if code != cli.ExitOK {
		return code
	}
	names := f.names()
	views := make([]pluginView, len(names))
	for i, n := range names {
		views[i] = f.view(n)
	}
	if c.json {
		return c.printJSON(map[string]any{"plugins": views, "workers_reporting": len(f.workers)})
	}
	if len(names) == 0 {
		fmt.Fprintf(c.stdout, "no plugins: no worker reports one and none has fleet state (%s reporting)\n", plural(len(f.workers), "worker"))
		return cli.ExitOK
	}
	rows := [][]string{{"PLUGIN", "STATE", "OVERRIDES", "WORKER", "VERSION", "RUNTIME", "STATUS", "ERROR"}}
	for _, v := range views {
		head := []string{v.Name, enabledWord(v.Enabled), strconv.Itoa(len(v.Config))}
		if len(v.Workers) == 0 {
			rows = append(rows, append(head, "-", "-", "-", "-", ""))
		}
		for _, w := range v.Workers {
			rows = append(rows, append(slices.Clone(head), w.Worker, dash(w.Version), dash(w.Runtime), w.Status, oneLine(w.Error)))
		}
	}
	writeTable(c.stdout, rows)
	fmt.Fprintf(c.stdout, "%s, %s reporting\n", plural(len(names), "plugin"), plural(len(f.workers), "worker"))
	for _, p := range f.published {
		fmt.Fprintf(c.stdout, "published %s\n", publishedLine(p, len(f.workers)))
	}
	return cli.ExitOK
}

// publishedLine describes a published plugin: "hello 2.0.0 (sha256
// 1a2b3c4d5e6f, signed; previous 1.0.0), run by 2 of 3 workers; refused
// by w1: …".
func publishedLine(p fleetstate.PublishedPlugin, workers int) string {
	signed := "unsigned"
	if p.Signed {
		signed = "signed"
	}
	short := p.SHA256
	if len(short) > 12 {
		short = short[:12]
	}
	line := fmt.Sprintf("%s %s (sha256 %s, %s", p.Name, p.Version, short, signed)
	if p.Previous != "" {
		line += "; previous " + p.Previous
	}
	line += fmt.Sprintf("), run by %d of %s", p.Running(), plural(workers, "worker"))
	for _, w := range slices.Sorted(maps.Keys(p.Refused)) {
		line += fmt.Sprintf("; refused by %s: %s", w, oneLine(p.Refused[w]))
	}
	return line
}

func (c *pluginsCmd) show(ctx context.Context, name string) int {
	f, code := c.read(ctx)
	if code != cli.ExitOK {
		return code
	}
	if code, ok := c.known(f, name, false); !ok {
		return code
	}
	v := f.view(name)
	if c.json {
		return c.printJSON(v)
	}
	out := c.stdout
	state := enabledWord(v.Enabled)
	if !v.UpdatedAt.IsZero() {
		state += ", changed " + v.UpdatedAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(out, "plugin     %s\nstate      %s\n", v.Name, state)
	if len(v.Config) == 0 {
		fmt.Fprintln(out, "overrides  none")
	}
	for i, k := range slices.Sorted(maps.Keys(v.Config)) {
		label := "           "
		if i == 0 {
			label = "overrides  "
		}
		fmt.Fprintf(out, "%s%s=%s\n", label, k, v.Config[k])
	}
	for i, k := range slices.Sorted(maps.Keys(v.Invalid)) {
		label := "           "
		if i == 0 {
			label = "ignored    "
		}
		fmt.Fprintf(out, "%s%s: %s\n", label, k, v.Invalid[k])
	}
	if v.Published != nil {
		fmt.Fprintf(out, "published  %s\n", publishedLine(*v.Published, len(f.workers)))
	}
	if len(v.Workers) == 0 {
		fmt.Fprintln(out, "workers    none reports it")
		return cli.ExitOK
	}
	fmt.Fprintf(out, "workers    %d\n\n", len(v.Workers))
	rows := [][]string{{"WORKER", "VERSION", "RUNTIME", "STATUS", "LOADED AT", "TASK TYPES", "ERROR"}}
	for _, w := range v.Workers {
		loaded := "-"
		if !w.LoadedAt.IsZero() {
			loaded = w.LoadedAt.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{w.Worker, dash(w.Version), dash(w.Runtime), w.Status, loaded,
			dash(strings.Join(w.TaskTypes, ",")), oneLine(w.Error)})
	}
	writeTable(out, rows)
	return cli.ExitOK
}

func (c *pluginsCmd) printJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		c.errorf("%v", err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

// writeTable prints rows as aligned columns separated by two spaces,
// without trailing spaces.
func writeTable(w io.Writer, rows [][]string) {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush() // writes to a bytes.Buffer cannot fail
	for line := range strings.Lines(buf.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
}

// oneLine folds a multi-line error into one line for a table.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
