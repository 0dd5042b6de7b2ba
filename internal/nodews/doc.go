// Package nodews holds the Node.js side of a test: deflate.mjs, a script
// on Node's `ws` (installed from this directory's package-lock.json with
// `npm ci`, which .ci/run does), that nodews_test.go runs against a real
// server to show permessage-deflate working with an independent
// implementation. It has no Go code beyond this; it must never be imported.
package nodews
