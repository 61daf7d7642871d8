// Package httpserve holds what every tuskq HTTP server shares: the monitor,
// the HTTP enqueue API and the worker's health and metrics endpoints.
//
//   - Run serves an http.Server until its context ends, then shuts it
//     down gracefully; NewServer and Timeouts set its limits.
//   - CheckListen refuses a non-loopback listen address without
//     authentication (an *InsecureListenError matching ErrInsecureListen);
//     IsLoopbackHost and LoopbackHost tell loopback names and Host headers.
//   - Plain writes a short text answer; Health serves /healthz and
//     /readyz.
//   - Limiter counts failed authentications per client address
//     (ClientAddr) with golang.org/x/time/rate buckets.
//   - Mux routes with Go 1.22 method patterns and lets the caller answer
//     404 and 405 in its own format.
package httpserve
