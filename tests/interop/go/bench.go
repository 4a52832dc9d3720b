// bench.go - the interop client's load mode: one RPC driven from grpc-go
// at a fixed concurrency for a fixed time, the way a Kubernetes sidecar
// (a grpc-go client) would load the driver.
//
//   interop -endpoint unix:///abs/csi.sock -bench probe -c 16 -conns 1 -d 5s
//
// -c goroutines share -conns ClientConns (goroutine i uses conn i % conns;
// a sidecar multiplexes all its calls on one). It prints one JSON object,
// with the same field names as `dynvolctl -o json bench`:
// method, concurrency, conns, calls, errors, seconds, calls_per_sec,
// p50_us, p99_us, max_us, first_error. Exit status 1 when any call failed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"dynvol.io/csipb"
	"google.golang.org/grpc"
)

var (
	benchName     = flag.String("bench", "", "load mode instead of the checks: probe")
	benchDuration = flag.Duration("d", 5*time.Second, "with -bench: how long to measure")
	benchWarmup   = flag.Duration("warmup", 500*time.Millisecond, "with -bench: load before measuring, not counted")
)

// benchCalls maps a -bench name to its method path and one call of it.
var benchCalls = map[string]struct {
	method string
	call   func(ctx context.Context, cl csipb.IdentityClient) error
}{
	"probe": {"/csi.v1.Identity/Probe", func(ctx context.Context, cl csipb.IdentityClient) error {
		resp, err := cl.Probe(ctx, &csipb.ProbeRequest{})
		if err == nil && !resp.GetReady().GetValue() {
			err = fmt.Errorf("ready = false")
		}
		return err
	}},
}

type benchResult struct {
	Method      string  `json:"method"`
	Concurrency int     `json:"concurrency"`
	Conns       int     `json:"conns"`
	Calls       int     `json:"calls"`
	Errors      int64   `json:"errors"`
	Seconds     float64 `json:"seconds"`
	CallsPerSec float64 `json:"calls_per_sec"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	MaxUs       float64 `json:"max_us"`
	FirstError  string  `json:"first_error,omitempty"`
}

// percentile of sorted latencies (nearest rank), in microseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i]) / float64(time.Microsecond)
}

// runBench drives -bench and returns the exit status.
func runBench() int {
	bc, ok := benchCalls[*benchName]
	if !ok {
		fmt.Fprintf(os.Stderr, "interop: unknown -bench %q (known: probe)\n", *benchName)
		return 2
	}
	var clients []csipb.IdentityClient
	for i := 0; i < *numConns; i++ {
		ctx, cancel := withTimeout(10 * time.Second)
		cc, err := dial(ctx)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "interop: dial %s: %v\n", *endpoint, err)
			return 2
		}
		defer func(cc *grpc.ClientConn) { cc.Close() }(cc)
		clients = append(clients, csipb.NewIdentityClient(cc))
	}

	// Each goroutine keeps its own latencies: no lock on the hot path.
	var measuring, stop int32
	var nerr int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, *numWorkers)
	var wg sync.WaitGroup
	for w := 0; w < *numWorkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cl := clients[w%len(clients)]
			mine := make([]time.Duration, 0, 1<<16)
			for atomic.LoadInt32(&stop) == 0 {
				ctx, cancel := withTimeout(callTimeout)
				start := time.Now()
				err := bc.call(ctx, cl)
				el := time.Since(start)
				cancel()
				if atomic.LoadInt32(&measuring) == 0 {
					continue
				}
				if err != nil {
					if atomic.AddInt64(&nerr, 1) == 1 {
						firstErr.Store(err.Error())
					}
					continue
				}
				mine = append(mine, el)
			}
			lat[w] = mine
		}(w)
	}
	time.Sleep(*benchWarmup)
	begin := time.Now()
	atomic.StoreInt32(&measuring, 1)
	time.Sleep(*benchDuration)
	atomic.StoreInt32(&measuring, 0)
	secs := time.Since(begin).Seconds()
	atomic.StoreInt32(&stop, 1)
	wg.Wait()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	res := benchResult{Method: bc.method, Concurrency: *numWorkers, Conns: *numConns,
		Calls: len(all), Errors: nerr, Seconds: secs,
		CallsPerSec: float64(len(all)) / secs,
		P50us:       percentile(all, 0.50), P99us: percentile(all, 0.99),
		MaxUs:       percentile(all, 1.0)}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if nerr > 0 {
		return 1
	}
	return 0
}
