package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// compactFixture returns a sample finding as one NDJSON line.
func compactFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(findingsDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkParseRecordGuardDuty normalizes a 4 KB GuardDuty finding (an
// access key finding with instance details, as an NDJSON line).
func BenchmarkParseRecordGuardDuty(b *testing.B) {
	raw := compactFixture(b, "guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json")
	rec := Record{Line: 1, Column: 1, Raw: raw}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRecord("bench.ndjson", rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeJSON compares cordon's decoder with encoding/json's
// (UseNumber) on the same finding.
func BenchmarkDecodeJSON(b *testing.B) {
	raw := compactFixture(b, "guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json")
	b.Run("cordon", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeJSON(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSplitRecords splits 1,000 GuardDuty findings of NDJSON.
func BenchmarkSplitRecords(b *testing.B) {
	line := compactFixture(b, "guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json")
	data := []byte(strings.Repeat(string(line)+"\n", 1000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		recs, err := SplitRecords("bench.ndjson", data)
		if err != nil || len(recs) != 1000 {
			b.Fatal(len(recs), err)
		}
	}
}
