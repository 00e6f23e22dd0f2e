package state

import (
	"context"
	"database/sql"
	"fmt"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkPutEvidence measures what the custody log costs evidence:
// "chained" is PutEvidence, which appends the record's custody entry in
// its transaction (reading the incident's last entry, hashing, inserting);
// "unchained" is the evidence insert alone, as PutEvidence was before the
// log. Each record is a collector's facts, 2 KiB. Serial is one goroutine
// recording one incident's evidence, as an apply does; parallel is 8
// goroutines recording at once (grouped commits), each its own incident.
// synchronous=FULL is what OpenSQLite uses; NORMAL, without an fsync per
// commit, shows the log's own cost.
func BenchmarkPutEvidence(b *testing.B) {
	data := make([]byte, 2048)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	unchained := func(s *SQLiteStore, ctx context.Context, ev Evidence) error {
		if err := ev.prepare(); err != nil {
			return err
		}
		return s.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO evidence (incident_id, kind, name, sha256, size, data, meta, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (incident_id, kind, name, sha256) DO NOTHING`,
				ev.IncidentID, ev.Kind, ev.Name, ev.SHA256, ev.Size, ev.Data, jsonArg(ev.Meta), formatTime(orNow(ev.CreatedAt)))
			return err
		})
	}
	for _, mode := range []string{"synchronous=FULL/serial", "synchronous=FULL/parallel", "synchronous=NORMAL/serial", "synchronous=NORMAL/parallel"} {
		sync, parallel := strings.TrimPrefix(path.Dir(mode), "synchronous="), path.Base(mode) == "parallel"
		for _, how := range []string{"chained", "unchained"} {
			b.Run(mode+"/"+how, func(b *testing.B) {
				s, err := openSQLite(filepath.Join(b.TempDir(), "state.db"), sqliteOptions{synchronous: sync})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				const incidents = 8
				for i := range incidents {
					putIncident(b, s, testIncident(fmt.Sprint("inc-", i), "i-1"))
				}
				ctx := context.Background()
				var n, inc atomic.Int64
				put := func(incident string) error {
					ev := Evidence{IncidentID: incident, Kind: "facts", Name: fmt.Sprint("c-", n.Add(1)), Data: data,
						Meta: []byte(`{"collector":"triage"}`)}
					if how == "chained" {
						return s.PutEvidence(ctx, ev)
					}
					return unchained(s, ctx, ev)
				}
				b.ReportAllocs()
				b.ResetTimer()
				if parallel {
					b.SetParallelism(8 / max(1, runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						incident := fmt.Sprint("inc-", inc.Add(1)%incidents)
						for pb.Next() {
							if err := put(incident); err != nil {
								b.Error(err)
								return
							}
						}
					})
				} else {
					for b.Loop() {
						if err := put("inc-0"); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
