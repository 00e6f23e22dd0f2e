package collectors

import (
	"context"
	"fmt"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/cordonhq/cordon/internal/awsemu"
)

// BenchmarkMemoryAcquisition acquires images of growing size from an
// emulated host, which generates each image as it hashes and uploads it to
// the emulator's S3, which hashes it as it streams in. It reports
// peak-heap-MiB, the most heap the process's objects held during the
// acquisitions (sampled every millisecond): flat from 64 MiB to 4 GiB, it
// shows that nothing holds the image, neither the collector nor the
// emulator, which runs in the same process. B/op is not that measure: it
// counts every allocation over the run, and the collector's polls of the
// command, whose garbage grows with the run's duration. cordon's own peak
// RSS, apart from the emulator's, is what scripts/measure-memory-acquisition
// measures across two processes.
//
//	go test ./collectors -run '^$' -bench MemoryAcquisition -benchtime 1x
func BenchmarkMemoryAcquisition(b *testing.B) {
	for _, size := range []int64{64 << 20, 1 << 30, 4 << 30} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			e := memoryEnv(b, nil)
			e.emu.SetMemoryHost(web1, awsemu.MemoryHost{ImageSize: size})
			c := memoryCollector(b, nil, evidenceBlock)
			// Polls fast enough not to pad the run, few enough not to swamp
			// the heap's figure with their garbage.
			c.pollMax = 50 * time.Millisecond
			b.SetBytes(size)
			b.ReportAllocs()
			peak := sampleHeap()
			b.ResetTimer()
			for i := range b.N {
				// A key of its own for each acquisition: the upload refuses
				// to overwrite one (If-None-Match), and the clock is fixed.
				req := e.request(web1)
				req.IncidentID = fmt.Sprintf("inc-%016x", i)
				facts, err := c.Collect(context.Background(), req)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				key, _ := facts["key"].(string)
				obj, ok := e.emu.S3Object(memBucket, key)
				if !ok || obj.Size != size || facts["size"] != size || facts["sha256"] != obj.SHA256 || obj.Data != nil {
					b.Fatalf("facts %v; object %s: %v, %d bytes, %d kept", facts, key, ok, obj.Size, len(obj.Data))
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
		})
	}
}

// sampleHeap samples the bytes of heap objects (live, or dead and not yet
// swept) every millisecond until the function it returns is called, which
// returns their peak.
func sampleHeap() func() uint64 {
	const name = "/memory/classes/heap/objects:bytes"
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: name}}
		var peak uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		return <-done
	}
}
