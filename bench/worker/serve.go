package worker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Serve is the child's side of the protocol: it writes ready, then answers
// every command line on in with the one Event handle returns, until "exit"
// (answered "ok") or until in closes because the parent is gone. Work a
// command starts goes on after its reply. It returns the exit status.
func Serve(in io.Reader, out io.Writer, ready Event, handle func(*Cmd) Event) int {
	enc := json.NewEncoder(out)
	_ = enc.Encode(ready)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var c Cmd
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			_ = enc.Encode(Event{Ev: "err", Err: fmt.Sprintf("bad command: %v", err)})
			continue
		}
		if c.Op == "exit" {
			_ = enc.Encode(Event{Ev: "ok"})
			return 0
		}
		_ = enc.Encode(handle(&c))
	}
	return 0
}

// Fail tells the parent that the child could not start (in place of the
// ready line) and returns the exit status.
func Fail(out io.Writer, err error) int {
	_ = json.NewEncoder(out).Encode(Event{Ev: "err", Err: err.Error()})
	return 1
}
