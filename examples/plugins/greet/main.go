// Command greet is an example tuskq plugin for the process runtime. It
// reads one JSON request per line on stdin and answers one JSON response
// per line on stdout; what it writes on stderr becomes log records that
// carry the task's trace_id. See docs/plugins.md.
//
// It handles greet:hello tasks with payloads such as {"name": "Ada"} and
// returns {"message": "Hello, Ada!", "version": "1.0.0"}.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// request is the part of tuskq's request line this plugin reads.
type request struct {
	ID      string          `json:"id"`
	TaskID  string          `json:"task_id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	Config  struct {
		Greeting string `json:"greeting"`
	} `json:"config"`
}

// response is the answer line.
type response struct {
	ID     string `json:"id"`
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
	Retry  *bool  `json:"retry,omitempty"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 16<<20)
	out := json.NewEncoder(os.Stdout) // unbuffered: one Write per line
	if err := out.Encode(map[string]bool{"ready": true}); err != nil {
		os.Exit(1)
	}
	for in.Scan() { // ends when tuskq closes stdin: exit then
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "greet: bad request line:", err)
			os.Exit(1)
		}
		if err := out.Encode(handle(req)); err != nil {
			os.Exit(1)
		}
	}
}

func handle(req request) response {
	var p struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(req.Payload, &p); err != nil {
		no := false
		return response{ID: req.ID, Error: "payload: " + err.Error(), Retry: &no}
	}
	greeting := req.Config.Greeting
	if greeting == "" {
		greeting = "Hello"
	}
	fmt.Fprintf(os.Stderr, "greeting %s for task %s\n", p.Name, req.TaskID)
	return response{ID: req.ID, Result: map[string]string{
		"message": fmt.Sprintf("%s, %s!", greeting, p.Name),
		"version": os.Getenv("TUSKQ_PLUGIN_VERSION"),
	}}
}
