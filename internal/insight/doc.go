// Package insight is the statistics behind the monitor's Insight page:
// it learns what is normal per task type and queue, notices what is not,
// explains it, and forecasts each queue's drain.
//
// Workers aggregate their attempts in memory (Recorder: per task type,
// queue and plugin version, attempts, failures, retries, a duration
// histogram of √2-spaced buckets, the most frequent normalized error
// texts and the last failed task and trace IDs) and a Publisher writes
// the cumulative snapshot to Redis every few seconds; nothing per attempt
// goes to Redis. The monitor's Engine reads every worker's snapshot and
// asynq's queue sizes at each tick (5 s by default), takes differences,
// and keeps the ticks of a sliding window (1 min).
//
// Statistics, each documented where it is computed:
//
//   - Baselines are EWMAs with a 30 min half-life, started as plain means
//     so that early values do not linger (Baseline). A tick that is part
//     of an anomaly is not learned.
//   - Failure excess is judged by a binomial z-score against the
//     baseline ratio (floored at 0.2 %), together with an absolute margin
//     (at least 5 points), so neither a rare failure on a quiet type nor
//     the noise of a busy one raises anything.
//   - Durations are compared on the log scale: p95 of the window against
//     the EWMA of log p95, with a mean absolute deviation as the spread.
//   - No anomaly is raised before the warm-up (10 min from the first
//     tick, and 5 min of data for each series' own baseline); an anomaly
//     is raised after two firing ticks and resolved after 2 min below a
//     relaxed threshold (hysteresis).
//
// The Engine is pure: it is given the time, so tests replay hours of a
// simulated fleet in seconds. Store keeps snapshots, state and reports in
// Redis so every monitor replica agrees.
package insight
