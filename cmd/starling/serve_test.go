package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// Every bad flag value is refused with an error that names the flag.
func TestServeFlagErrorsNameTheFlag(t *testing.T) {
	f := func(args []string, flagName string) {
		t.Helper()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg := serveFlags(fs)
		err := fs.Parse(args)
		if err == nil {
			err = cfg.validate()
		}
		if err == nil {
			t.Fatalf("%v: accepted", args)
		}
		if !strings.Contains(err.Error(), flagName) {
			t.Fatalf("%v: error %q does not name %s", args, err, flagName)
		}
	}
	f([]string{"-engine", "kqueue"}, "-engine")
	f([]string{"-loops", "-1"}, "-loops")
	f([]string{"-max-outbound", "10"}, "-max-outbound")
	f([]string{"-drain-timeout", "-1s"}, "-drain-timeout")
	f([]string{"-log-level", "loud"}, "-log-level")
	f([]string{"-log-format", "xml"}, "-log-format")
	f([]string{"-path", "ws"}, "-path")
	f([]string{"-max-conns", "0"}, "-max-conns")
	f([]string{"-max-message", "10"}, "-max-message")
	f([]string{"-max-subscriptions", "0"}, "-max-subscriptions")
	f([]string{"-ping-interval", "10ms"}, "-ping-interval")
	f([]string{"-pong-timeout", "0s"}, "-pong-timeout")
	f([]string{"-handshake-timeout", "0s"}, "-handshake-timeout")
	f([]string{"-fragment-timeout", "0s"}, "-fragment-timeout")
	f([]string{"-close-grace", "0s"}, "-close-grace")
	f([]string{"-shards", "3"}, "-shards")
	f([]string{"-admin-addr", "nonsense"}, "-admin-addr")
	f([]string{"-admin-addr", "", "-pprof"}, "-pprof")
	f([]string{"-max-conns", "many"}, "-max-conns") // parse error from package flag

	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg := serveFlags(fs)
	if err := fs.Parse(nil); err != nil || cfg.validate() != nil {
		t.Fatalf("defaults rejected: %v %v", err, cfg.validate())
	}
}
