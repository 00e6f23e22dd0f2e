package state

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkActionPair measures what recording one action costs an apply:
// ActionStarted then ActionFinished, two committed transactions. With
// synchronous=FULL (what OpenSQLite uses) each commit waits for an fsync
// of the WAL; NORMAL is shown for comparison. Serial is one goroutine;
// parallel is 8 goroutines recording at once, as an apply of many targets
// or the daemon's workers do, with concurrent writes grouped into shared
// transactions (what OpenSQLite does) and, for comparison, each alone.
func BenchmarkActionPair(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, mode := range []string{"serial", "parallel", "parallel-ungrouped"} {
			parallel := mode != "serial"
			name := fmt.Sprintf("synchronous=%s/%s", sync, mode)
			maxGroup := 0
			if mode == "parallel-ungrouped" {
				maxGroup = 1
			}
			b.Run(name, func(b *testing.B) {
				s, err := openSQLite(filepath.Join(b.TempDir(), "state.db"), sqliteOptions{synchronous: sync, maxGroup: maxGroup})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				putIncident(b, s, testIncident("inc-1", "i-1"))
				ap := beginApply(b, s, "plan-1", KindApply)
				ctx := context.Background()
				out := applied(`{"security_groups":["sg-iso"]}`)
				var n atomic.Int64
				pair := func() error {
					a := testAction(ap, "inc-1", "isolate", fmt.Sprint("i-", n.Add(1)))
					id, err := s.ActionStarted(ctx, a)
					if err != nil {
						return err
					}
					return s.ActionFinished(ctx, id, out)
				}
				b.ReportAllocs()
				b.ResetTimer()
				if parallel {
					b.SetParallelism(8 / max(1, runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := pair(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				} else {
					for b.Loop() {
						if err := pair(); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
			})
		}
	}
}
