package web

// Report lets the browser tests (package web_test) add their timings to the figures.
var Report = report
