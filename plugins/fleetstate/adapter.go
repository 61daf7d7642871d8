package fleetstate

import (
	"context"
	"slices"

	"github.com/tuskq/tuskq/plugins"
)

// State is the plugins.State of a worker.
var _ plugins.State = (*State)(nil)

// Report records what this worker has loaded (the plugin Manager calls it
// after every change and periodically) and writes the report at once. It
// implements plugins.State.
func (s *State) Report(ctx context.Context, loaded []plugins.LoadedPlugin) error {
	reports := make([]PluginReport, len(loaded))
	for i, lp := range loaded {
		reports[i] = PluginReport{
			Name:      lp.Name,
			Version:   lp.Version,
			Runtime:   lp.Runtime,
			Status:    lp.Status,
			Error:     lp.Error,
			TaskTypes: slices.Clone(lp.TaskTypes),
			LoadedAt:  lp.LoadedAt,
		}
		if reports[i].TaskTypes == nil {
			reports[i].TaskTypes = []string{}
		}
	}
	return s.ReportPlugins(ctx, reports)
}
