package kb

import (
	"strings"
	"testing"
)

func TestSanitizeHTML(t *testing.T) {
	for _, tc := range []struct{ in, want, mustNot string }{
		{in: `<p>Hello <strong>you</strong></p>`, want: `<p>Hello <strong>you</strong></p>`},
		{in: `<script>alert(1)</script><p>x</p>`, want: `<p>x</p>`, mustNot: "alert"},
		{in: `<img src=x onerror="alert(1)">`, mustNot: "onerror"},
		{in: `<a href="javascript:alert(1)">x</a>`, mustNot: "javascript"},
		{in: `<a href="JaVaScRiPt:alert(1)">x</a>`, mustNot: "avascript"},
		{in: `<a href="data:text/html,<script>">x</a>`, mustNot: "data:"},
		{in: `<p onclick="x()" class="note">y</p>`, want: `<p class="note">y</p>`},
		{in: `<style>body{display:none}</style>ok`, want: `ok`},
		{in: `<iframe src="https://evil"></iframe>ok`, want: `ok`},
		{in: `<a href="https://example.com/a">link</a>`, want: `<a href="https://example.com/a" rel="nofollow noopener" target="_blank">link</a>`},
		{in: `<svg><script>alert(1)</script></svg>`, mustNot: "script"},
	} {
		got := SanitizeHTML(tc.in)
		if tc.want != "" && got != tc.want {
			t.Errorf("SanitizeHTML(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.mustNot != "" && strings.Contains(strings.ToLower(got), strings.ToLower(tc.mustNot)) {
			t.Errorf("SanitizeHTML(%q) = %q still holds %q", tc.in, got, tc.mustNot)
		}
	}
}

func FuzzSanitizeHTML(f *testing.F) {
	f.Add(`<a href="javascript:x">y</a>`)
	f.Add(`<img src=x onerror=y>`)
	f.Fuzz(func(t *testing.T, in string) {
		out := strings.ToLower(SanitizeHTML(in))
		for _, bad := range []string{"<script", "onerror=", "onload=", "onclick=", "href=\"javascript:"} {
			if strings.Contains(out, bad) {
				t.Fatalf("SanitizeHTML(%q) = %q holds %q", in, out, bad)
			}
		}
	})
}
