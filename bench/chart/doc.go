// Package chart draws line, bar and dot panels as one self-contained SVG
// (no script, no external font or stylesheet), which is how a bench run's
// figures travel in a report or a README.
//
// It is separate from the reports (bench/report.go and bench/panels.go,
// which decide what a run's panels are) so that drawing knows nothing of
// scenarios, and a report's data never depends on how it is drawn. It must
// never read a bench result, a file or a clock: the same panels always draw
// the same bytes.
package chart
