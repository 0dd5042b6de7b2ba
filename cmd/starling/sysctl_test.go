package main

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/starling-ws/starling/server"
)

// scripts/sysctl.sh check, given no --conns, checks for the -max-conns
// default; the two numbers live in different languages and must agree.
func TestSysctlDefaultIsMaxConns(t *testing.T) {
	b, err := os.ReadFile("../../scripts/sysctl.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^default_conns=(\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("scripts/sysctl.sh has no default_conns=N line")
	}
	if n, _ := strconv.Atoi(string(m[1])); n != server.Defaults().MaxConns {
		t.Fatalf("sysctl.sh checks %d connections by default, -max-conns defaults to %d", n, server.Defaults().MaxConns)
	}
}
