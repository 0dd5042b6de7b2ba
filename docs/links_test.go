package docs

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// The documents whose links must resolve, relative to the repository root.
func documents(t *testing.T, root string) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md under %s (%v)", root, err)
	}
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

// TestLinksResolve walks every link and image in README.md and docs/*.md:
// a relative target must exist inside the repository, and an #anchor must
// be made by a heading of the file it points into (GitHub's slugs).
// External links (with a scheme) are not fetched.
func TestLinksResolve(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range documents(t, root) {
		n, broken := checkLinks(root, f)
		total += n
		for _, b := range broken {
			t.Errorf("%s", b)
		}
	}
	// The README alone links to every document and its figures' sources: a
	// count this low means the walk found nothing, not that all is well.
	if total < 40 {
		t.Fatalf("only %d links found in README.md and docs/*.md", total)
	}
	t.Logf("%d links checked", total)
}

// A checker that cannot fail proves nothing: a missing file, a missing
// anchor in another file and in the same file, and a path out of the tree
// are each reported; a good link, a link inside code, an external link and
// a link to a directory are not.
func TestLinkCheckerCatchesBrokenLinks(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/b.md", "# B doc\n\n## Flags (`serve`) & more\n\n## Twice\n\n## Twice\n")
	write("a.md", "# A\n\n## Here it is\n\n"+
		"[ok](docs/b.md#flags-serve--more) [ok2](docs/b.md#twice-1) [self](#here-it-is) [dir](docs/) "+
		"[ext](https://example.com/x#y) `[code](nowhere.md)` ![img](docs/b.md)\n\n"+
		"```\n[fenced](nowhere.md)\n```\n\n"+
		"[gone](docs/c.md) [bad anchor](docs/b.md#nope) [bad self](#there) [escape](../x.md) [ref][r]\n\n"+
		"[r]: docs/missing.md\n")
	n, broken := checkLinks(root, filepath.Join(root, "a.md"))
	want := []string{"docs/c.md", "docs/b.md#nope", "#there", "../x.md", "docs/missing.md"}
	if n != 11 || len(broken) != len(want) {
		t.Fatalf("%d links, broken %q; want 11 links and %d broken", n, broken, len(want))
	}
	for i, w := range want {
		if !strings.Contains(broken[i], "("+w+")") {
			t.Errorf("broken[%d] = %q, want it to name %s", i, broken[i], w)
		}
	}
}

// checkLinks returns how many links and images file has and a line for
// each one that does not resolve.
func checkLinks(root, file string) (int, []string) {
	src, err := os.ReadFile(file)
	if err != nil {
		return 0, []string{err.Error()}
	}
	rel, _ := filepath.Rel(root, file)
	doc := parse(src)
	var dests []string
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch l := n.(type) {
		case *ast.Link:
			dests = append(dests, string(l.Destination))
		case *ast.Image:
			dests = append(dests, string(l.Destination))
		}
		return ast.WalkContinue, nil
	})
	var broken []string
	for _, d := range dests {
		if err := resolve(root, file, d); err != nil {
			broken = append(broken, fmt.Sprintf("%s: link (%s): %v", rel, d, err))
		}
	}
	return len(dests), broken
}

func parse(src []byte) ast.Node {
	return goldmark.New(goldmark.WithExtensions(extension.GFM)).Parser().Parse(text.NewReader(src))
}

// resolve checks one destination found in file.
func resolve(root, file, dest string) error {
	u, err := url.Parse(dest)
	if err != nil {
		return err
	}
	if u.Scheme != "" || u.Host != "" {
		return nil // external: not fetched
	}
	target := file
	if u.Path != "" {
		target = filepath.Join(filepath.Dir(file), filepath.FromSlash(u.Path))
		if r, err := filepath.Rel(root, target); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return fmt.Errorf("points outside the repository")
		}
		if _, err := os.Stat(target); err != nil {
			return fmt.Errorf("no such file")
		}
	}
	if u.Fragment == "" {
		return nil
	}
	if !strings.HasSuffix(target, ".md") {
		return fmt.Errorf("anchor #%s into a file that is not markdown", u.Fragment)
	}
	src, err := os.ReadFile(target)
	if err != nil {
		return err
	}
	if !anchors(src)[u.Fragment] {
		return fmt.Errorf("no heading makes #%s", u.Fragment)
	}
	return nil
}

// anchors are the ids GitHub gives a document's headings: the heading's
// text, lower-cased, with punctuation and symbols dropped (but "-" and
// "_"), spaces turned into "-", and "-1", "-2"... on repeats.
func anchors(src []byte) map[string]bool {
	ids := map[string]bool{}
	seen := map[string]int{}
	_ = ast.Walk(parse(src), func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		h, ok := n.(*ast.Heading)
		if !entering || !ok {
			return ast.WalkContinue, nil
		}
		var b strings.Builder
		for _, r := range strings.ToLower(plainText(h, src)) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
				b.WriteRune(r)
			}
		}
		id := b.String()
		if k := seen[id]; k > 0 {
			seen[id]++
			id = fmt.Sprintf("%s-%d", id, k)
		} else {
			seen[id] = 1
		}
		ids[id] = true
		return ast.WalkSkipChildren, nil
	})
	return ids
}

// plainText is what a heading reads as: its text and code spans, without
// markup.
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch t := c.(type) {
		case *ast.Text:
			b.Write(t.Segment.Value(src))
		case *ast.String:
			b.Write(t.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}
