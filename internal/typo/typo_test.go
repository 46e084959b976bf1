package typo

import "testing"

func TestClosest(t *testing.T) {
	keys := []string{"listen", "role", "tls", "public_url"}
	for _, tc := range []struct {
		word string
		max  int
		want string
	}{
		{"lisen", 2, "listen"},
		{"LISTEN", 2, "listen"},
		{"rol", 2, "role"},
		{"nothing", 2, ""},
		{"publicurl", 2, "public_url"},
		{"tsl", 1, ""}, // a swap is two edits
		{"tsl", 2, "tls"},
	} {
		if got := Closest(tc.word, keys, tc.max); got != tc.want {
			t.Errorf("Closest(%q, %d) = %q, want %q", tc.word, tc.max, got, tc.want)
		}
	}
	if Distance("kitten", "sitting") != 3 || Distance("", "abc") != 3 || Distance("same", "same") != 0 {
		t.Error("Distance")
	}
}
