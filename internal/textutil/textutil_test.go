package textutil

import (
	"slices"
	"testing"
)

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		text string
		n    int
		want []string
	}{
		{"a\nb\nc\n", 2, []string{"b", "c"}},
		{"a\nb", 5, []string{"a", "b"}},
		{"", 3, nil},
		{"\n\n", 3, nil},
		{"a\n", 0, nil},
	} {
		if got := LastLines(tc.text, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("LastLines(%q, %d) = %q; want %q", tc.text, tc.n, got, tc.want)
		}
	}
}

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{"a\nb\n": "a", "one": "one", "": "", "\nx": ""} {
		if got := FirstLine(in); got != want {
			t.Errorf("FirstLine(%q) = %q; want %q", in, got, want)
		}
	}
}
