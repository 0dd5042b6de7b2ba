// Package docs holds no code: it is where Starling's documents live (the
// README at the root links here), and its test fails on any link in
// README.md or docs/*.md that does not resolve: a relative file that is not
// there, or an #anchor that no heading of the target makes.
//
// The test sits next to the files it checks so that `go test ./...`, and so
// CI, walks them on every run. Nothing may import this package.
package docs
