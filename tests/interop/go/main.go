// Command interop checks dynvol's C gRPC server against grpc-go, the gRPC
// implementation the Kubernetes CSI sidecars and the kubelet use.
//
// It dials the driver's socket, runs a fixed list of checks and prints one
// line per check, "PASS name" or "FAIL name: why", then exits 1 if any check
// failed (2 on bad usage or when the driver cannot be reached at all).
//
// Built by tests/interop/go/build.sh (GOPATH mode, offline, against Debian's
// grpc-go 1.33 and code generated from proto/csi.proto into dynvol.io/csipb);
// run by tests/integration/test_go_interop.py.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dynvol.io/csipb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const callTimeout = 5 * time.Second

var (
	endpoint     = flag.String("endpoint", "", "driver endpoint, unix:///abs/path/csi.sock (required)")
	wantName     = flag.String("want-name", "csi.dynvol.io", "expected GetPluginInfo name")
	mode         = flag.String("mode", "all", "driver mode: all | controller | node (all and controller expect CONTROLLER_SERVICE)")
	numCalls     = flag.Int("n", 2000, "calls per concurrency phase")
	numWorkers   = flag.Int("c", 64, "goroutines per concurrency phase")
	numConns     = flag.Int("conns", 8, "ClientConns in the second concurrency phase")
	delayedProbe = flag.Bool("delayed-probe", false, "the driver runs with DYNVOL_TEST_DELAY=Probe:2000: run the deadline and cancellation checks")
	probeDelay   = flag.Duration("probe-delay", 2*time.Second, "the Probe delay the driver was started with (used with -delayed-probe)")
	runPattern   = flag.String("run", "", "run only the checks whose names match this regexp")
	skipPattern  = flag.String("skip", "", "skip the checks whose names match this regexp")
)

var runRe, skipRe *regexp.Regexp

var failed int

func pass(name string) { fmt.Printf("PASS %s\n", name) }

func fail(name, format string, args ...interface{}) {
	failed++
	fmt.Printf("FAIL %s: %s\n", name, strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " | "))
}

// check runs fn and prints its verdict: fn returns nil for PASS. Checks
// deselected with -run / -skip print nothing.
func check(name string, fn func() error) {
	if (runRe != nil && !runRe.MatchString(name)) || (skipRe != nil && skipRe.MatchString(name)) {
		return
	}
	start := time.Now()
	if err := fn(); err != nil {
		fail(name, "%v (after %v)", err, time.Since(start).Round(time.Millisecond))
		return
	}
	pass(name)
}

// dial opens a ClientConn to the endpoint the way the brief asks: grpc-go
// 1.33 has no "unix" resolver, so a "unix:///abs/path" target falls back to
// the passthrough resolver and its default dialer (parseDialTarget) dials
// the unix socket; the :authority is "localhost".
func dial(ctx context.Context) (*grpc.ClientConn, error) {
	return grpc.DialContext(ctx, *endpoint, grpc.WithInsecure(), grpc.WithBlock())
}

// dialKubeletStyle dials like the kubelet does (pkg/volume/csi/csi_client.go
// newGrpcConn): the bare socket path as the target and a custom dialer for
// "unix". grpc-go 1.33 (and every release before the percent-encoding of
// the authority in newer ones) then sends the socket path itself as the
// :authority, e.g. ":authority: /var/lib/kubelet/plugins/x/csi.sock",
// which is not a valid RFC 3986 authority: the server must accept it
// anyway, as grpc-go's and gRPC C-core's servers do.
func dialKubeletStyle(ctx context.Context, path string) (*grpc.ClientConn, error) {
	return grpc.DialContext(ctx, path, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}))
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func getPluginInfo(cl csipb.IdentityClient, d time.Duration) (*csipb.GetPluginInfoResponse, error) {
	ctx, cancel := withTimeout(d)
	defer cancel()
	return cl.GetPluginInfo(ctx, &csipb.GetPluginInfoRequest{})
}

func checkPluginInfo(resp *csipb.GetPluginInfoResponse) error {
	if resp.GetName() != *wantName {
		return fmt.Errorf("name = %q, want %q", resp.GetName(), *wantName)
	}
	if resp.GetVendorVersion() == "" {
		return fmt.Errorf("empty vendor_version")
	}
	return nil
}

// codeOf returns the gRPC status code of err and a printable form.
func codeOf(err error) (codes.Code, string) {
	if err == nil {
		return codes.OK, "OK"
	}
	st, _ := status.FromError(err)
	return st.Code(), fmt.Sprintf("%v: %q", st.Code(), st.Message())
}

// callMix makes call number i: a mix of the Identity RPCs. Probe is left
// out when the driver delays it (the calls would wait seconds each).
func callMix(cl csipb.IdentityClient, i int) error {
	ctx, cancel := withTimeout(callTimeout)
	defer cancel()
	kinds := 3
	if *delayedProbe {
		kinds = 2
	}
	switch i % kinds {
	case 0:
		resp, err := cl.GetPluginInfo(ctx, &csipb.GetPluginInfoRequest{})
		if err != nil {
			return fmt.Errorf("GetPluginInfo: %w", err)
		}
		if err := checkPluginInfo(resp); err != nil {
			return fmt.Errorf("GetPluginInfo: %w", err)
		}
	case 1:
		resp, err := cl.GetPluginCapabilities(ctx, &csipb.GetPluginCapabilitiesRequest{})
		if err != nil {
			return fmt.Errorf("GetPluginCapabilities: %w", err)
		}
		if len(resp.GetCapabilities()) == 0 {
			return fmt.Errorf("GetPluginCapabilities: no capabilities")
		}
	case 2:
		resp, err := cl.Probe(ctx, &csipb.ProbeRequest{})
		if err != nil {
			return fmt.Errorf("Probe: %w", err)
		}
		if resp.GetReady() != nil && !resp.GetReady().GetValue() {
			return fmt.Errorf("Probe: ready = false")
		}
	}
	return nil
}

// hammer makes n calls from c goroutines; call i goes to clients[i%len].
func hammer(clients []csipb.IdentityClient, n, c int) error {
	var next int64 = -1
	var nfail int64
	var mu sync.Mutex
	var firstErrs []string
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= n {
					return
				}
				if err := callMix(clients[i%len(clients)], i); err != nil {
					atomic.AddInt64(&nfail, 1)
					mu.Lock()
					if len(firstErrs) < 5 {
						firstErrs = append(firstErrs, fmt.Sprintf("call %d: %v", i, err))
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if nfail > 0 {
		return fmt.Errorf("%d of %d calls failed; first: %s", nfail, n, strings.Join(firstErrs, "; "))
	}
	return nil
}

func main() {
	flag.Parse()
	if *endpoint == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: interop -endpoint unix:///abs/path/csi.sock [-want-name NAME] [-mode all|controller|node] [-n N] [-c C] [-conns K] [-delayed-probe] [-run RE] [-skip RE]\n       interop -endpoint unix:///abs/path/csi.sock -bench probe [-c N] [-conns K] [-d 5s] (see bench.go)")
		os.Exit(2)
	}
	if *numCalls < 1 || *numWorkers < 1 || *numConns < 1 {
		fmt.Fprintln(os.Stderr, "interop: -n, -c and -conns must be positive")
		os.Exit(2)
	}

	for _, f := range []struct {
		pat string
		re  **regexp.Regexp
	}{{*runPattern, &runRe}, {*skipPattern, &skipRe}} {
		if f.pat == "" {
			continue
		}
		re, err := regexp.Compile(f.pat)
		if err != nil {
			fmt.Fprintf(os.Stderr, "interop: bad regexp %q: %v\n", f.pat, err)
			os.Exit(2)
		}
		*f.re = re
	}
	if *benchName != "" {
		os.Exit(runBench())
	}

	ctx, cancel := withTimeout(10 * time.Second)
	conn, err := dial(ctx)
	cancel()
	if err != nil {
		fail("dial", "%s: %v", *endpoint, err)
		os.Exit(2)
	}
	defer conn.Close()
	pass("dial")
	id := csipb.NewIdentityClient(conn)

	check("GetPluginInfo", func() error {
		resp, err := getPluginInfo(id, callTimeout)
		if err != nil {
			return err
		}
		return checkPluginInfo(resp)
	})

	check("GetPluginCapabilities", func() error {
		ctx, cancel := withTimeout(callTimeout)
		defer cancel()
		resp, err := id.GetPluginCapabilities(ctx, &csipb.GetPluginCapabilitiesRequest{})
		if err != nil {
			return err
		}
		hasController := false
		var got []string
		for _, c := range resp.GetCapabilities() {
			if svc := c.GetService(); svc != nil {
				got = append(got, svc.GetType().String())
				if svc.GetType() == csipb.PluginCapability_Service_CONTROLLER_SERVICE {
					hasController = true
				}
			}
		}
		wantController := *mode == "all" || *mode == "controller"
		if hasController != wantController {
			return fmt.Errorf("mode %s: CONTROLLER_SERVICE present = %v, want %v (service capabilities: %v)",
				*mode, hasController, wantController, got)
		}
		return nil
	})

	check("Probe", func() error {
		d := callTimeout
		if *delayedProbe {
			d += *probeDelay
		}
		ctx, cancel := withTimeout(d)
		defer cancel()
		resp, err := id.Probe(ctx, &csipb.ProbeRequest{})
		if err != nil {
			return err
		}
		if resp.GetReady() == nil {
			return fmt.Errorf("ready is absent, want ready = true")
		}
		if !resp.GetReady().GetValue() {
			return fmt.Errorf("ready = false")
		}
		return nil
	})

	check("unknown-method", func() error {
		ctx, cancel := withTimeout(callTimeout)
		defer cancel()
		err := conn.Invoke(ctx, "/csi.v1.Identity/NoSuchMethod", &csipb.ProbeRequest{}, &csipb.ProbeResponse{})
		if c, s := codeOf(err); c != codes.Unimplemented {
			return fmt.Errorf("got %s, want Unimplemented", s)
		}
		return nil
	})

	check("unknown-service", func() error {
		ctx, cancel := withTimeout(callTimeout)
		defer cancel()
		err := conn.Invoke(ctx, "/csi.v1.Nope/X", &csipb.ProbeRequest{}, &csipb.ProbeResponse{})
		if c, s := codeOf(err); c != codes.Unimplemented {
			return fmt.Errorf("got %s, want Unimplemented", s)
		}
		return nil
	})

	check("conn-alive-after-unknown", func() error {
		_, err := getPluginInfo(id, callTimeout)
		return err
	})

	check("concurrency-one-conn", func() error {
		return hammer([]csipb.IdentityClient{id}, *numCalls, *numWorkers)
	})

	check("concurrency-many-conns", func() error {
		var clients []csipb.IdentityClient
		for i := 0; i < *numConns; i++ {
			ctx, cancel := withTimeout(10 * time.Second)
			cc, err := dial(ctx)
			cancel()
			if err != nil {
				return fmt.Errorf("dial #%d: %v", i, err)
			}
			defer cc.Close()
			clients = append(clients, csipb.NewIdentityClient(cc))
		}
		return hammer(clients, *numCalls, *numWorkers)
	})

	if path := strings.TrimPrefix(*endpoint, "unix://"); path != *endpoint && strings.HasPrefix(path, "/") {
		check("kubelet-style-dial", func() error {
			ctx, cancel := withTimeout(10 * time.Second)
			cc, err := dialKubeletStyle(ctx, path)
			cancel()
			if err != nil {
				return fmt.Errorf("dial %s: %v", path, err)
			}
			defer cc.Close()
			resp, err := getPluginInfo(csipb.NewIdentityClient(cc), callTimeout)
			if err != nil {
				return err
			}
			return checkPluginInfo(resp)
		})
	}

	if *delayedProbe {
		check("deadline", func() error {
			ctx, cancel := withTimeout(200 * time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := id.Probe(ctx, &csipb.ProbeRequest{})
			el := time.Since(start)
			if c, s := codeOf(err); c != codes.DeadlineExceeded {
				return fmt.Errorf("Probe with a 200ms deadline: got %s after %v, want DeadlineExceeded", s, el)
			}
			if el > time.Second {
				return fmt.Errorf("Probe with a 200ms deadline took %v (> 1s)", el)
			}
			if _, err := getPluginInfo(id, callTimeout); err != nil {
				return fmt.Errorf("GetPluginInfo right after the deadline: %v", err)
			}
			return nil
		})

		check("cancel", func() error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			_, err := id.Probe(ctx, &csipb.ProbeRequest{})
			el := time.Since(start)
			if c, s := codeOf(err); c != codes.Canceled {
				return fmt.Errorf("Probe cancelled after 100ms: got %s after %v, want Canceled", s, el)
			}
			if el > time.Second {
				return fmt.Errorf("cancelled Probe returned only after %v", el)
			}
			if _, err := getPluginInfo(id, callTimeout); err != nil {
				return fmt.Errorf("GetPluginInfo right after the cancel: %v", err)
			}
			return nil
		})

		// The client gives up on its own at a deadline or cancel; this one
		// checks the server does too. Abandon more delayed Probes than the
		// driver has handler threads (default 8): if the server kept
		// sleeping in them, a GetPluginInfo right after would queue behind
		// them for ~the whole Probe delay.
		check("cancel-frees-handlers", func() error {
			const abandoned = 24
			var wg sync.WaitGroup
			errs := make(chan string, abandoned)
			for i := 0; i < abandoned; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					var ctx context.Context
					var cancel context.CancelFunc
					if i%2 == 0 {
						ctx, cancel = withTimeout(150 * time.Millisecond)
					} else {
						ctx, cancel = context.WithCancel(context.Background())
						time.AfterFunc(150*time.Millisecond, cancel)
					}
					defer cancel()
					_, err := id.Probe(ctx, &csipb.ProbeRequest{})
					if c, s := codeOf(err); c != codes.DeadlineExceeded && c != codes.Canceled {
						errs <- fmt.Sprintf("abandoned Probe %d: got %s", i, s)
					}
				}(i)
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				return fmt.Errorf("%s", e)
			}
			// give the server a moment to see the RST_STREAMs
			time.Sleep(50 * time.Millisecond)
			limit := *probeDelay / 2
			start := time.Now()
			if _, err := getPluginInfo(id, limit); err != nil {
				return fmt.Errorf("GetPluginInfo after abandoning %d delayed Probes: %v after %v (handlers still busy with the abandoned calls?)",
					abandoned, err, time.Since(start).Round(time.Millisecond))
			}
			return nil
		})
	}

	if failed > 0 {
		fmt.Printf("%d check(s) failed\n", failed)
		os.Exit(1)
	}
	fmt.Println("all checks passed")
}
