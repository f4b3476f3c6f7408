package evidence

import (
	"io"
	"runtime"
	"testing"
	"time"
)

// repeatReader yields one log over and over, up to n bytes, without
// holding the whole input in memory: what is measured is the parser.
type repeatReader struct {
	one []byte
	off int
	n   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && r.n > 0 {
		c := copy(p[k:], r.one[r.off:])
		if c > r.n {
			c = r.n
		}
		k += c
		r.n -= c
		r.off = (r.off + c) % len(r.one)
	}
	return k, nil
}

// allLogs is every test log, the reports of every class, concatenated.
func allLogs(t testing.TB) []byte {
	var one []byte
	for _, log := range logFiles(t) {
		b, _ := readLog(t, log)
		one = append(one, b...)
	}
	return one
}

// streamPeak streams size bytes of reports and returns the peak live heap
// seen while reports came out, the reports and the throughput in MB/s.
func streamPeak(t testing.TB, one []byte, size int) (peak uint64, reports int, mbps float64) {
	runtime.GC()
	var ms runtime.MemStats
	start := time.Now()
	err := Stream(&repeatReader{one: one, n: size}, func(o Report) {
		reports++
		if reports%8 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return peak, reports, float64(size) / 1e6 / time.Since(start).Seconds()
}

// TestStreamMemoryFlat streams 1 MB and 20 MB of reports in one run and
// checks that the peak heap does not grow with the input.
func TestStreamMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 21 MB")
	}
	one := allLogs(t)
	small, n1, _ := streamPeak(t, one, 1<<20)
	big, n20, mbps := streamPeak(t, one, 20<<20)
	t.Logf("1 MB: %d reports, peak heap %.1f MB; 20 MB: %d reports, peak heap %.1f MB (ratio %.2f), %.0f MB/s",
		n1, float64(small)/1e6, n20, float64(big)/1e6, float64(big)/float64(small), mbps)
	if n20 < 10*n1 {
		t.Errorf("20 MB gave %d reports, 1 MB %d; want about 20 times as many", n20, n1)
	}
	if big > 2*small+4<<20 {
		t.Errorf("peak heap %d bytes for 20 MB against %d for 1 MB; want flat", big, small)
	}
}

// BenchmarkStream20MB streams 20 MB of reports and reports MB/s and the
// peak heap.
func BenchmarkStream20MB(b *testing.B) {
	one := allLogs(b)
	const size = 20 << 20
	b.SetBytes(size)
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		p, _, _ := streamPeak(b, one, size)
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
}
