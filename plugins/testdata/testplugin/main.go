// Command testplugin is the process plugin of the plugins tests. The
// payload's "mode" picks a behaviour: echo (the default), log, sleep,
// crash, hang, fail, crash_once and hang_once (misbehave on the first
// attempt only), badline, noop (the benchmarks).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

type request struct {
	ID      string            `json:"id"`
	TaskID  string            `json:"task_id"`
	Type    string            `json:"type"`
	Payload json.RawMessage   `json:"payload"`
	Base64  []byte            `json:"payload_base64"`
	Retry   int               `json:"retry"`
	Config  map[string]any    `json:"config"`
	Headers map[string]string `json:"headers"`
}

type payload struct {
	Mode  string `json:"mode"`
	N     int    `json:"n"`
	MS    int    `json:"ms"`
	Retry *bool  `json:"retry"`
}

func main() {
	if os.Getenv("TESTPLUGIN_NOT_READY") != "" {
		fmt.Fprintln(os.Stderr, "testplugin: refusing to start")
		os.Exit(2)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 16<<20)
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]bool{"ready": true})
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			os.Exit(1)
		}
		var p payload
		_ = json.Unmarshal(req.Payload, &p)
		resp := map[string]any{"id": req.ID}
		switch mode := p.Mode; {
		case mode == "crash" || (mode == "crash_once" && req.Retry == 0):
			fmt.Fprintln(os.Stderr, "testplugin: crashing on purpose")
			os.Exit(3)
		case mode == "hang" || (mode == "hang_once" && req.Retry == 0):
			time.Sleep(time.Hour)
		case mode == "badline":
			fmt.Println("this is not JSON")
			continue
		case mode == "fail":
			resp["error"] = "planned failure"
			if p.Retry != nil {
				resp["retry"] = *p.Retry
			}
			_ = out.Encode(resp)
			continue
		case mode == "log":
			fmt.Fprintf(os.Stderr, "testplugin: working on %s\n", req.TaskID)
		case mode == "sleep":
			time.Sleep(time.Duration(p.MS) * time.Millisecond)
		}
		resp["result"] = map[string]any{
			"version":     os.Getenv("TUSKQ_PLUGIN_VERSION"),
			"n":           p.N,
			"pid":         os.Getpid(),
			"config":      req.Config,
			"base64":      req.Base64,
			"env":         os.Environ(),
			"traceparent": req.Headers["traceparent"],
		}
		_ = out.Encode(resp)
	}
}
