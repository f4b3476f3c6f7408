package main

import "testing"

func TestMutate(t *testing.T) {
	for _, tc := range []struct {
		line   string
		column int
		kind   string
		want   string
	}{
		{"\tcase n < 4096:", 9, "CONDITIONALS_BOUNDARY", "\tcase n <= 4096:"},
		{"\tcase n <= max:", 9, "CONDITIONALS_BOUNDARY", "\tcase n < max:"},
		{"\tcase n <= max:", 9, "CONDITIONALS_NEGATION", "\tcase n > max:"},
		{"\tcase a == b:", 9, "CONDITIONALS_NEGATION", "\tcase a != b:"},
		{"\tcase at+count > size:", 9, "ARITHMETIC_BASE", "\tcase at-count > size:"},
		{"\tcase at+count > size:", 16, "CONDITIONALS_BOUNDARY", "\tcase at+count >= size:"},
	} {
		got, err := mutate(tc.line, tc.column, tc.kind)
		if err != nil || got != tc.want {
			t.Errorf("mutate(%q, %d, %s) = %q, %v; want %q", tc.line, tc.column, tc.kind, got, err, tc.want)
		}
	}
	if _, err := mutate("\tcase x:", 7, "CONDITIONALS_BOUNDARY"); err == nil {
		t.Error("a column without the kind's operator was mutated")
	}
	if !caseMutant("\t\tcase p > r.Value:") || caseMutant("\tif a < b {") {
		t.Error("caseMutant tells case clauses wrong")
	}
}

func TestMutateUnary(t *testing.T) {
	if got, err := mutate("\tcase i == -1:", 12, "INVERT_NEGATIVES"); err != nil || got != "\tcase i == +1:" {
		t.Errorf("INVERT_NEGATIVES: %q, %v", got, err)
	}
	if got, err := mutate("\tcase n++ > 3:", 8, "INCREMENT_DECREMENT"); err != nil || got != "\tcase n-- > 3:" {
		t.Errorf("INCREMENT_DECREMENT: %q, %v", got, err)
	}
}
