package outbound

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// etc/options.env is valid as it is (no proxy), and so is every setting it shows once
// uncommented.
func TestSampleOptionsFile(t *testing.T) {
	text, err := os.ReadFile("../etc/options.env")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseOptions("etc/options.env", strings.NewReader(string(text)))
	if err != nil || s.HTTP != nil || s.HTTPS != nil {
		t.Fatalf("as shipped: %v, %v; want valid and without a proxy", s, err)
	}
	uncommented := regexp.MustCompile(`(?m)^#([a-z]+\.[a-zA-Z]+=)`).ReplaceAllString(string(text), "$1")
	s, err = ParseOptions("etc/options.env", strings.NewReader(uncommented))
	if err != nil || s.HTTP == nil || s.HTTPS == nil || len(s.NonProxyHosts) != 3 {
		t.Fatalf("uncommented: %v, %v", s, err)
	}
}
