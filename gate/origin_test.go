package gate

import (
	"strings"
	"testing"
)

func TestOrigins(t *testing.T) {
	o, err := ParseOrigins(" https://app.example.com, https://*.example.org:8443,http://[::1]:3000,HTTP://LocalHost:8080 ,", false)
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]bool{
		"":                                   true, // no Origin: a non-browser client
		"https://app.example.com":            true,
		"HTTPS://APP.EXAMPLE.COM":            true,
		"http://app.example.com":             false, // scheme exact
		"https://app.example.com:443":        false, // port exact, even the default
		"https://app.example.com:8443":       false,
		"https://app.example.com.evil":       false,
		"https://evilapp.example.com":        false,
		"https://a.example.org:8443":         true,
		"https://a.b.example.org:8443":       true,
		"https://example.org:8443":           false, // '*.' needs a subdomain
		"https://.example.org:8443":          false,
		"https://a..example.org:8443":        false,
		"https://a.example.org":              false, // port exact
		"https://a.example.org:84430":        false,
		"https://evil.com/.example.org:8443": false,
		"https://evil.com?.example.org:8443": false,
		"https://a_b.example.org:8443":       false,
		"http://a.example.org:8443":          false,
		"http://[::1]:3000":                  true,
		"http://localhost:8080":              true,
		"null":                               false,
		strings.Repeat("a", 400):             false,
	} {
		if got := o.Allow([]byte(origin)); got != want {
			t.Errorf("Allow(%q) = %v, want %v", origin, got, want)
		}
	}
	req, _ := ParseOrigins("https://app.example.com", true)
	if req.Allow(nil) || !req.Allow([]byte("https://app.example.com")) {
		t.Error("-require-origin")
	}
	anyOrigin, _ := ParseOrigins("", true)
	if anyOrigin.Allow(nil) || !anyOrigin.Allow([]byte("https://x.test")) {
		t.Error("empty list with -require-origin: any present Origin passes")
	}
	var nilO *Origins
	if !nilO.Allow(nil) || !nilO.Allow([]byte("https://x")) {
		t.Error("nil Origins admits all")
	}
}

func TestOriginsZeroAlloc(t *testing.T) {
	o, _ := ParseOrigins("https://app.example.com,https://*.example.org", false)
	in := [][]byte{[]byte("https://App.example.com"), []byte("https://a.b.example.org"), []byte("https://nope.test")}
	i := 0
	if n := testing.AllocsPerRun(1000, func() { o.Allow(in[i%3]); i++ }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

func TestOriginPatternErrors(t *testing.T) {
	for _, p := range []string{
		"app.example.com", "https://", "https://app.example.com/", "https://app.example.com/x",
		"https://u@app.example.com", "https://app.*.com", "https://*", "https://*.", "https://a:0",
		"https://a:65536", "https://a:08", "https://a:x", "1http://a", "https://[zz]", "https://[1.2.3.4]",
		"https://a b", "https://a..b",
	} {
		if _, err := ParseOrigins(p, false); err == nil || !strings.Contains(err.Error(), "-allowed-origins") {
			t.Errorf("%q: %v", p, err)
		}
	}
}

func BenchmarkOriginAllow(b *testing.B) {
	o, _ := ParseOrigins("https://app.example.com,https://*.example.org", false)
	in := []byte("https://a.b.example.org")
	b.ReportAllocs()
	for b.Loop() {
		o.Allow(in)
	}
}
