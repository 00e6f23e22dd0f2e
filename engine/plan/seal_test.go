package plan

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func gunzipped(t *testing.T, data []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// A plan file is bound to the state's plan key and to its content: apply
// refuses one signed with another key, one not signed, and one edited
// after it was signed, however the edit fixes up its id.
func TestSealAndVerify(t *testing.T) {
	otherKey := bytes.Repeat([]byte{0xa5}, 32)
	sealed, err := Seal(samplePlanFile(t), testKey)
	if err != nil {
		t.Fatal(err)
	}
	good, err := Decode(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Verify(testKey); err != nil {
		t.Fatalf("the sealed plan: %v", err)
	}
	if !strings.HasPrefix(good.MAC, "hmac-sha256:"+KeyID(testKey)+":") {
		t.Errorf("mac %q", good.MAC)
	}
	if id, _ := ID(good); id != good.ID {
		t.Errorf("the id of the content read back is %s, recorded %s", id, good.ID)
	}

	unsigned, err := Encode(samplePlanFile(t))
	if err != nil {
		t.Fatal(err)
	}
	// Unsigned and signed, the same plan has one id: signing adds no content.
	if f, _ := Decode(unsigned); f.ID != good.ID || f.MAC != "" {
		t.Errorf("unsigned id %s mac %q, signed id %s", f.ID, f.MAC, good.ID)
	}

	// What a person with write access to the file, but not the key, can do.
	edited := func(edit func(body string) string) []byte {
		return gz(t, edit(gunzipped(t, sealed)))
	}
	// resealed re-encodes an edited plan (id recomputed) and copies the old
	// signature into it.
	resealed := func(edit func(*File)) []byte {
		f, err := Decode(sealed)
		if err != nil {
			t.Fatal(err)
		}
		oldMAC := f.MAC
		edit(f)
		data, err := Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		body := gunzipped(t, data)
		i := strings.Index(body, `"id":"`) + len(`"id":"plan-0123456789abcdef"`)
		return gz(t, body[:i]+`,"mac":"`+oldMAC+`"`+body[i:])
	}
	for _, tc := range []struct {
		name string
		data []byte
		key  []byte
		is   error
		want string
	}{
		{"another state's key", sealed, otherKey, ErrOtherKey, "(\"" + KeyID(testKey) + "\"; this state's is " + KeyID(otherKey) + ")"},
		{"unsigned", unsigned, testKey, ErrUnsigned, ""},
		{"content edited", edited(func(b string) string { return strings.Replace(b, "i-0a1b2c3d4e5f67890", "i-0d1d2d3d4d5d6d7d8", 1) }),
			testKey, ErrModified, "its content digests to plan-"},
		{"id edited", edited(func(b string) string { return strings.Replace(b, `"id":"plan-`, `"id":"plan-0`, 1) }),
			testKey, ErrModified, "not to the id"},
		{"signature removed", edited(func(b string) string {
			i := strings.Index(b, `,"mac":"`)
			j := strings.Index(b[i+8:], `"`)
			return b[:i] + b[i+8+j+1:]
		}), testKey, ErrUnsigned, ""},
		{"signature of other content", resealed(func(f *File) { f.ConfigDigest = "sha256:ff" }), testKey, ErrBadSignature, ""},
		{"second id later in the file", edited(func(b string) string {
			return strings.TrimSuffix(b, "}") + `,"id":"plan-0000000000000000"}`
		}), testKey, ErrModified, ""},
		{"re-indented", edited(func(b string) string {
			var out bytes.Buffer
			json.Indent(&out, []byte(b), "", "  ")
			return out.String()
		}), testKey, ErrModified, "does not begin as cordon writes plan files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			err = f.Verify(tc.key)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify: %v, want %v containing %q", err, tc.is, tc.want)
			}
			if errors.Is(tc.is, ErrModified) && f.CheckID() == nil {
				t.Error("CheckID passes an edited file")
			}
		})
	}

	// A plan built in memory was never written: there is nothing to verify.
	if err := samplePlanFile(t).Verify(testKey); err != nil {
		t.Errorf("in-memory plan: %v", err)
	}
	if _, err := Seal(samplePlanFile(t), nil); err == nil {
		t.Error("Seal signed with an empty key")
	}
}

func TestWriteSignsAndReadVerifies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.plan")
	if err := Write(path, samplePlanFile(t), testKey); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Verify(testKey); err != nil {
		t.Error(err)
	}
	if err := Write(path, samplePlanFile(t), nil); err != nil {
		t.Fatal(err)
	}
	if f, _ = Read(path); !errors.Is(f.Verify(testKey), ErrUnsigned) {
		t.Errorf("unsigned write: %v", f.Verify(testKey))
	}
}

// Empty lists are [] in the plan JSON, whoever built the incident (a plan
// file from before withheld actions existed has none).
func TestIncidentJSONListsAreNeverNull(t *testing.T) {
	b, err := json.Marshal(&Incident{ID: "inc-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"matches", "verdicts", "actions", "withheld", "errors"} {
		if !strings.Contains(string(b), `"`+k+`":[]`) {
			t.Errorf("%s is not [] in %s", k, b)
		}
	}
	p := &Plan{Incidents: []*Incident{{Actions: []*Action{{}}, Withheld: []*Withheld{{}, {}}}}}
	p.Recount(1)
	if p.Summary.Actions != 1 || p.Summary.Withheld != 2 {
		t.Errorf("summary %+v", p.Summary)
	}
}
