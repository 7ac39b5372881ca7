package jsontext

import "testing"

func TestValueEnd(t *testing.T) {
	for _, c := range []struct {
		text string
		end  int
	}{
		{`"a\"b",`, 6}, {`{"a":[1,"}"]} `, 13}, {`12.5e3}`, 6}, {`true,`, 4}, {`null`, 4},
		{`"open`, -1}, {`{"a":1`, -1}, {"\"ctl\x01\"", -1}, {``, -1}, {`,`, -1},
	} {
		if got := ValueEnd([]byte(c.text), 0); got != c.end {
			t.Errorf("ValueEnd(%q) = %d, want %d", c.text, got, c.end)
		}
	}
	if got := SkipSpace([]byte(" \t\r\nx"), 0); got != 4 {
		t.Errorf("SkipSpace = %d, want 4", got)
	}
}
