package gate

import "testing"

func TestTokenSources(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer abc.def.ghi": "abc.def.ghi",
		"bearer  abc ":       "abc",
		"BEARER\tabc":        "abc",
		"  Bearer abc":       "abc",
		"Basic dXNlcjpwYXNz": "",
		"Bearer":             "",
		"Bearer   ":          "",
		"Bearerabc":          "",
		"":                   "",
	} {
		tok, ok := BearerToken([]byte(in))
		if string(tok) != want || ok != (want != "") {
			t.Errorf("BearerToken(%q) = %q, %v; want %q", in, tok, ok, want)
		}
	}
	for in, want := range map[string]string{
		"token=abc.def":           "abc.def",
		"a=1&token=abc&token=zzz": "abc",
		"xtoken=1&token=abc":      "abc",
		"token=a%2Eb":             "a.b",
		"token=a%zz":              "",
		"token=":                  "",
		"tokens=abc":              "",
		"":                        "",
	} {
		tok, ok := QueryToken([]byte(in))
		if string(tok) != want || ok != (want != "") {
			t.Errorf("QueryToken(%q) = %q, %v; want %q", in, tok, ok, want)
		}
	}
}
