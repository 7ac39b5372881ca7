package fastapi

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
)

// Each appender writes the bytes Marshal writes for the same value.
func FuzzAppendersMatchMarshal(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\back`, "<tag>&amp;", "ctl\x00\x01\x1f\x7f\b\f\n\r\t", "\u2028\u2029", "bad\xff\xfeutf8", "é漢字🙂",
		`{"a": [1, 2.5e3, "<x>", "\u003c", {"b": null}]}`, ` { } `, `[`, `"\ud800"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, Marshal: %s", s, got, want)
		}
		if json.Valid([]byte(s)) {
			want, err := Marshal(json.RawMessage(s))
			if err != nil {
				t.Fatal(err)
			}
			if got := AppendRaw(nil, json.RawMessage(s)); string(got) != string(want) {
				t.Errorf("AppendRaw(%q) = %s, Marshal: %s", s, got, want)
			}
		}
	})
}

func TestAppendUUID(t *testing.T) {
	for _, id := range []uuid.UUID{uuid.Nil, uuid.New(), uuid.Max} {
		want, _ := Marshal(id)
		if got := AppendUUID(nil, id); string(got) != string(want) {
			t.Errorf("AppendUUID(%v) = %s, Marshal: %s", id, got, want)
		}
	}
	if got := AppendOptUUID(nil, nil); string(got) != "null" {
		t.Errorf("AppendOptUUID(nil) = %s", got)
	}
}
