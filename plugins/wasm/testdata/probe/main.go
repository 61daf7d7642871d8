//go:build wasip1

// Command probe is the test guest of package wasm: each task type tries
// one thing and reports what it got.
package main

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/tuskq/tuskq/plugins/wasm/guest"
)

// handled counts the tasks this instance has run: a fresh instance starts
// at 1.
var handled int

var hoard [][]byte

var kept []byte

func init() {
	guest.Handle(func(t *guest.Task) ([]byte, error) {
		handled++
		switch t.Type {
		case "probe:echo":
			guest.Log(guest.LevelInfo, "echo "+string(t.Payload))
			guest.Progress(100, "done")
			return t.Payload, nil
		case "probe:noop":
			return t.Payload, nil
		case "probe:count":
			return []byte(strconv.Itoa(handled)), nil
		case "probe:fail":
			return nil, errors.New("failed on purpose")
		case "probe:skip":
			return nil, guest.SkipRetry(errors.New("bad payload"))
		case "probe:sandbox":
			out := map[string]any{}
			_, err := os.ReadFile("/etc/passwd")
			out["read_etc_passwd"] = errText(err)
			_, err = os.ReadDir("/")
			out["read_root"] = errText(err)
			data, err := os.ReadFile("/data/granted.txt")
			out["read_granted"] = errText(err)
			out["granted_content"] = string(data)
			_, err = net.Dial("tcp", string(t.Payload))
			out["dial"] = errText(err)
			out["environ"] = os.Environ()
			out["year"] = time.Now().Year()
			_, err = guest.Do(guest.Request{URL: "http://" + string(t.Payload) + "/"})
			out["http"] = errText(err)
			b, _ := json.Marshal(out)
			return b, nil
		case "probe:http":
			resp, err := guest.Do(guest.Request{URL: string(t.Payload)})
			if err != nil {
				return nil, err
			}
			return resp.Body, nil
		case "probe:loop":
			for {
				handled++
			}
		case "probe:alloc":
			for {
				hoard = append(hoard, make([]byte, 1<<20))
			}
		case "probe:meta":
			b, _ := json.Marshal(map[string]any{"id": t.ID(), "queue": t.Queue(), "retry": t.Retry(), "max_retry": t.MaxRetry(),
				"deadline_ms": t.Deadline().UnixMilli(), "headers": t.Headers(), "traceparent": t.Traceparent(), "config": t.Config()})
			return b, nil
		case "probe:configerr":
			// Fails with the plugin's config, so that a test sees it
			// without a result writer.
			b, _ := json.Marshal(t.Config())
			return nil, errors.New("config " + string(b))
		case "probe:keep":
			// Keeps the payload across tasks: the next task's input must not
			// overwrite it.
			prev := kept
			kept = t.Payload
			return prev, nil
		case "probe:version":
			return []byte(os.Getenv("TUSKQ_PLUGIN_VERSION")), nil
		case "probe:panic":
			panic("probe panics on purpose")
		}
		return nil, guest.SkipRetry(errors.New("unknown type " + t.Type))
	})
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func main() {}
