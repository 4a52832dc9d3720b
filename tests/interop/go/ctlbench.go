// ctlbench.go - CreateVolume+DeleteVolume pairs driven from grpc-go, the
// way the external-provisioner (a grpc-go client) loads a driver.
//
//   interop -ctl-bench -endpoint unix:///abs/csi.sock [-pool P] [-c 16] [-conns 1] [-d 3s]
//           [-size 1048576] [-warmup 500ms]
//
// Each of -c goroutines creates a volume of a fresh name (mount, single
// node writer, -size bytes, parameter pool=P unless -pool is empty) and
// deletes what it made, over -conns ClientConns (goroutine i uses conn
// i % conns). Prints one JSON object with the field names of `dynvolctl -o
// json bench`: method, concurrency, conns, calls (pairs), errors, seconds,
// calls_per_sec, p50_us, p99_us, max_us, first_error. Exit status 1 when a
// call failed, 2 on bad usage.
//
// The mode is chosen before main() runs (an init function looks at the
// first argument), so it needs nothing from the checks in main.go.
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

func init() {
	if len(os.Args) > 1 && os.Args[1] == "-ctl-bench" {
		os.Exit(ctlBenchMain(os.Args[2:]))
	}
}

type ctlBenchResult struct {
	Method      string  `json:"method"`
	Pool        string  `json:"pool"`
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

// ctlPercentile of sorted latencies (nearest rank), in microseconds.
func ctlPercentile(sorted []time.Duration, p float64) float64 {
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

// ctlPair creates one volume and deletes it.
func ctlPair(cl csipb.ControllerClient, name, pool string, size int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := &csipb.CreateVolumeRequest{
		Name:          name,
		CapacityRange: &csipb.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csipb.VolumeCapability{{
			AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{}},
			AccessMode: &csipb.VolumeCapability_AccessMode{
				Mode: csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		}},
	}
	if pool != "" {
		req.Parameters = map[string]string{"pool": pool}
	}
	resp, err := cl.CreateVolume(ctx, req)
	if err != nil {
		return fmt.Errorf("CreateVolume: %v", err)
	}
	_, err = cl.DeleteVolume(ctx, &csipb.DeleteVolumeRequest{VolumeId: resp.GetVolume().GetVolumeId()})
	if err != nil {
		return fmt.Errorf("DeleteVolume: %v", err)
	}
	return nil
}

func ctlBenchMain(args []string) int {
	fs := flag.NewFlagSet("ctl-bench", flag.ContinueOnError)
	ep := fs.String("endpoint", "", "driver endpoint, unix:///abs/path/csi.sock (required)")
	pool := fs.String("pool", "", "StorageClass parameter pool=P ('' sends none)")
	conc := fs.Int("c", 16, "goroutines")
	conns := fs.Int("conns", 1, "ClientConns the goroutines share")
	dur := fs.Duration("d", 3*time.Second, "how long to measure")
	warm := fs.Duration("warmup", 500*time.Millisecond, "load before measuring, not counted")
	size := fs.Int64("size", 1<<20, "required_bytes of each volume")
	if err := fs.Parse(args); err != nil || *ep == "" || *conc < 1 || *conns < 1 {
		fmt.Fprintln(os.Stderr, "usage: interop -ctl-bench -endpoint unix:///abs/csi.sock [-pool P] [-c N] [-conns K] [-d 3s]")
		return 2
	}
	clients := make([]csipb.ControllerClient, *conns)
	for i := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cc, err := grpc.DialContext(ctx, *ep, grpc.WithInsecure(), grpc.WithBlock())
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "ctl-bench: dial %s: %v\n", *ep, err)
			return 2
		}
		defer cc.Close()
		clients[i] = csipb.NewControllerClient(cc)
	}
	var (
		measuring  int32
		stop       int32
		errs       int64
		mu         sync.Mutex
		lat        []time.Duration
		firstError string
		wg         sync.WaitGroup
		seq        int64
	)
	tag := time.Now().UnixNano()
	for g := 0; g < *conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			cl := clients[g%len(clients)]
			var mine []time.Duration
			for atomic.LoadInt32(&stop) == 0 {
				name := fmt.Sprintf("gobench-%x-%d", tag, atomic.AddInt64(&seq, 1))
				start := time.Now()
				err := ctlPair(cl, name, *pool, *size)
				if atomic.LoadInt32(&measuring) == 0 {
					continue
				}
				if err != nil {
					if atomic.AddInt64(&errs, 1) == 1 {
						mu.Lock()
						firstError = err.Error()
						mu.Unlock()
					}
					continue
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(g)
	}
	time.Sleep(*warm)
	atomic.StoreInt32(&measuring, 1)
	begin := time.Now()
	time.Sleep(*dur)
	atomic.StoreInt32(&measuring, 0)
	secs := time.Since(begin).Seconds()
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := ctlBenchResult{
		Method: "CreateVolume+DeleteVolume", Pool: *pool, Concurrency: *conc, Conns: *conns,
		Calls: len(lat), Errors: errs, Seconds: secs, CallsPerSec: float64(len(lat)) / secs,
		P50us: ctlPercentile(lat, 0.50), P99us: ctlPercentile(lat, 0.99),
		FirstError: firstError,
	}
	if len(lat) > 0 {
		res.MaxUs = float64(lat[len(lat)-1]) / float64(time.Microsecond)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if errs > 0 {
		return 1
	}
	return 0
}
