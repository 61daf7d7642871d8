// Package fleetstate keeps the plugin state that every worker of a fleet
// shares in Redis: whether each plugin is enabled, its configuration
// overrides, and which plugin versions each worker has loaded with their
// status.
//
// Two types use it:
//
//   - [State] is a worker's live view. [Open] loads the state, then keeps it
//     current from a pub/sub channel and a periodic resync, and publishes the
//     worker's loaded plugins under a per-worker key refreshed by a
//     heartbeat. It implements the plugins.State interface the plugin
//     Manager consults: Enabled and Config answer from memory (no Redis
//     round trip per task), Subscribe ticks on every change, Report records
//     what the worker loaded.
//   - [Store] reads and writes the same keys without a live view: the
//     "worker plugins" command and the monitor's fleet page use it.
//
// # Propagation
//
// A change (Store.SetEnabled, Store.SetConfig) is one MULTI/EXEC that writes
// the plugin's hash, adds the name to the set of names and increments the
// revision counter; it is followed by a PUBLISH of the plugin's name. Every
// State reloads on that message, typically within a few milliseconds. A
// worker can miss a message (its pub/sub connection was being re-established,
// or the writer died between EXEC and PUBLISH), so each State also reads the
// revision counter every Options.ResyncInterval (default 1 s: one GET per
// second per worker) and reloads when it differs from the revision it last
// loaded; it also reloads whenever its subscription is re-established. A
// change therefore reaches every worker connected to Redis within
// ResyncInterval plus one round trip even when its message is lost, which
// keeps the fleet-wide promise of 2 seconds. While Redis is unreachable a
// worker keeps the last state it loaded.
//
// # Redis keys
//
// Every key carries the hash tag {plugins}, so in Redis Cluster they live in
// one slot and the MULTI/EXEC above is allowed.
//
//	tuskq:{plugins}:names          SET of plugin names that have fleet state
//	tuskq:{plugins}:plugin:NAME    HASH, one per plugin:
//	                                 enabled     "true" or "false"; a plugin
//	                                             without the field (or without
//	                                             a hash) is enabled
//	                                 config.KEY  a configuration override: the
//	                                             JSON encoding of the value of
//	                                             KEY, which replaces the
//	                                             manifest's default
//	                                 updated_at  RFC 3339 time of the last change
//	tuskq:{plugins}:rev            STRING, integer incremented by every change
//	tuskq:{plugins}:changed        pub/sub channel; the message is the name of
//	                               the plugin that changed
//	tuskq:{plugins}:workers        ZSET of worker IDs, scored by the Unix time
//	                               in milliseconds at which their report expires
//	                               (pruned by the workers' heartbeats)
//	tuskq:{plugins}:worker:ID      STRING, the worker's report as JSON (see
//	                               [WorkerReport]), with a TTL of
//	                               Options.ReportTTL (default 30 s) refreshed
//	                               every ReportTTL/3; deleted by State.Close
//
// A worker's ID is host:pid:uuid (see [NewWorkerID]). A reader lists the
// members of the workers set and reads each report key; a member whose key
// has expired is a worker that stopped without closing its State (killed,
// or cut off from Redis) and is skipped.
//
// An example report:
//
//	{"worker":"web-1:4242:6f1c…","host":"web-1","pid":4242,
//	 "started_at":"2025-01-02T10:00:00Z","updated_at":"2025-01-02T10:05:00Z",
//	 "plugins":[{"name":"hello","version":"1.2.0","runtime":"native",
//	             "status":"loaded","task_types":["hello:greet"],
//	             "loaded_at":"2025-01-02T10:00:01Z"},
//	            {"name":"resize","version":"2.0.0","runtime":"process",
//	             "status":"failed","error":"…","task_types":["image:resize"],
//	             "loaded_at":"2025-01-02T10:00:01Z"}]}
//
// Status is "loaded", "failed" (Error says why) or "disabled".
package fleetstate
