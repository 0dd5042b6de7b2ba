package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starling-ws/starling/cluster"
)

// TestClusterFlags: the combinations a single bad value cannot show, and
// the Config the flags build.
func TestClusterFlags(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "x.creds")
	if err := os.WriteFile(creds, []byte("not checked here: nats.go reads it at connect"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		args []string
		flag string
	}{
		{[]string{"-nats", "nats://127.0.0.1:4222", "-history-size", "0"}, "-history-size"},
		{[]string{"-nats", "nats://127.0.0.1:4222", "-nats-token", "t", "-nats-creds", creds}, "-nats-creds"},
	} {
		_, err := parseServe(bad.args)
		if err == nil || !strings.Contains(err.Error(), bad.flag) {
			t.Errorf("%v: %v, want an error naming %s", bad.args, err, bad.flag)
		}
	}
	c, err := parseServe([]string{"-nats", "nats://127.0.0.1:4222", "-nats-storage", "memory", "-nats-prefix", "app.rt",
		"-nats-stream", "RT", "-nats-max-inflight", "100", "-nats-fetch-timeout", "2s", "-history-size", "10"})
	if err != nil {
		t.Fatal(err)
	}
	cc := c.cluster.config(c.cluster.url, "n")
	if cc.Storage != cluster.Memory || cc.Prefix != "app.rt" || cc.Stream != "RT" || cc.FetchTimeout != 2*time.Second {
		t.Errorf("config %+v", cc)
	}
	if c.server.BusMaxInflight != 100 || c.server.BusFetchTimeout != 2*time.Second {
		t.Errorf("server's bus bounds: inflight %d, fetch timeout %v", c.server.BusMaxInflight, c.server.BusFetchTimeout)
	}
	if err := cc.Validate(); err != nil {
		t.Errorf("the flags' config does not validate: %v", err)
	}
}
