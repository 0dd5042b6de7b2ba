package main

import (
	"flag"
	"strings"
	"testing"
)

// badServeValues lists, for every serve flag, values that must be refused
// (exit 2 with an error naming the flag). TestServeFlagErrorsNameTheFlag
// fails for a flag missing here, so a new flag must say what is bad for it.
var badServeValues = map[string][]string{
	"addr":              {"nonsense", "host:port:extra"},
	"path":              {"ws", ""},
	"engine":            {"kqueue"},
	"loops":             {"-1", "300"},
	"shards":            {"3", "512", "-2"},
	"max-conns":         {"0", "many", "99999999999"},
	"max-handshakes":    {"0", "-5"},
	"max-message":       {"10", "100000000"},
	"max-outbound":      {"10", "5000000000", "2000"}, // 2000: cannot hold one -max-message frame
	"sndbuf":            {"100", "1GiB", "-1", "big"},
	"max-subscriptions": {"0", "65536"},
	"max-channels":      {"0"},
	"max-fanout-queue":  {"10", "-1", "lots"},
	"max-publish-rate":  {"-1", "9999999999"},
	"history-size":      {"-1", "9999999999"},
	"history-ttl":       {"0s", "100000h"},
	"history-memory":    {"1KiB", "x"},
	"max-replay":        {"-1", "1048577"},
	"ping-interval":     {"10ms", "200000h"},
	"pong-timeout":      {"0s", "876000h"},
	"handshake-timeout": {"0s", "48h"},
	"fragment-timeout":  {"0s", "25h"},
	"close-grace":       {"0s", "100000h"},
	"drain-timeout":     {"-1s", "2h"},
	"log-level":         {"loud"},
	"log-format":        {"xml"},
	"admin-addr":        {"nonsense"},
	"pprof":             {"=maybe"}, // a bool flag takes its value as -pprof=v
	// The gate's and the API's (files with bad contents: TestGateFlagFiles).
	"jwt-secret-file":  {"/nonexistent/secret"},
	"jwt-public-key":   {"/nonexistent/key.pem"},
	"jwt-issuer":       {"issuer-without-a-key"},
	"jwt-audience":     {"audience-without-a-key"},
	"auth-timeout":     {"0s", "500ms", "48h"},
	"allowed-origins":  {"example.com", "https://app.example.com/path", "https://*", "https://a.*.example.com"},
	"require-origin":   {"=maybe"},
	"max-conns-per-ip": {"-1", "x", "2000000000"},
	"trusted-proxies":  {"10.0.0.0/33", "nonsense", "10.0.0.1/8/1"},
	"accept-rate":      {"-1", "x", "NaN", "1e9"},
	"accept-burst":     {"-3", "5"},                 // 5: without -accept-rate
	"api-addr":         {"nonsense", "127.0.0.1:0"}, // 127.0.0.1:0: without -api-key-file
	"api-key-file":     {"/nonexistent/keys"},
	"api-max-conns":    {"0", "x", "65537"},
	// permessage-deflate
	"compress":     {"=maybe"},
	"compress-min": {"-1", "x", "1MiB"}, // 1MiB: above -max-message
	// The cluster bus's (-nats with -history-size 0: TestClusterFlags).
	"nats":                 {"127.0.0.1:4222", "nats"},
	"nats-creds":           {"/nonexistent/x.creds"},
	"nats-token":           {"token-without-nats"},
	"nats-prefix":          {"", "a..b", "a.*", "has space", ".lead"},
	"nats-stream":          {"", "A.B", "A*", "has space"},
	"nats-storage":         {"disk", ""},
	"nats-replicas":        {"0", "6", "x"},
	"nats-history-memory":  {"1KiB", "x"},
	"nats-publish-timeout": {"0s", "2m"},
	"nats-max-inflight":    {"0", "2000000"},
	"nats-pending-msgs":    {"0", "100000000"},
	"nats-pending-bytes":   {"1KiB", "100GiB", "x"},
	"nats-max-catchup":     {"0", "-1"},
	"nats-fetch-timeout":   {"1ms", "2m"},
	"nats-max-fetches":     {"0", "5000"},
	"nats-fetch-queue":     {"-1", "2000000"},
	"nats-reconnect-wait":  {"0s", "2m"},
	"nats-ping-interval":   {"10ms", "2h"},
}

// Every bad flag value is refused with an error that names the flag, and
// serve exits 2 for it.
func TestServeFlagErrorsNameTheFlag(t *testing.T) {
	parse := func(args []string) error {
		_, err := parseServe(args)
		return err
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	serveFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		bad, ok := badServeValues[f.Name]
		if !ok {
			t.Errorf("-%s: no bad values listed in badServeValues", f.Name)
			return
		}
		for _, v := range bad {
			args := []string{"-" + f.Name, v}
			if strings.HasPrefix(v, "=") {
				args = []string{"-" + f.Name + v}
			}
			err := parse(args)
			if err == nil {
				t.Errorf("%v: accepted", args)
				continue
			}
			if !strings.Contains(err.Error(), "-"+f.Name) {
				t.Errorf("%v: error %q does not name -%s", args, err, f.Name)
			}
			if code := serveMain(args); code != 2 {
				t.Errorf("%v: exit %d, want 2", args, code)
			}
		}
	})
	for name := range badServeValues {
		if fs.Lookup(name) == nil {
			t.Errorf("badServeValues lists -%s, which serve does not have", name)
		}
	}
	// The pprof dependency on the admin listener.
	if err := parse([]string{"-admin-addr", "", "-pprof"}); err == nil || !strings.Contains(err.Error(), "-pprof") {
		t.Errorf("-pprof without an admin listener: %v", err)
	}
	if code := serveMain([]string{"-max-conns", "10", "stray"}); code != 2 {
		t.Errorf("a stray argument: exit %d, want 2", code)
	}
	if err := parse(nil); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
}
