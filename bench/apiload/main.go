// apiload drives a Kubernetes API server (dynvol's embedded one, or any)
// with Go's net/http, the HTTP stack the Kubernetes controllers use, and
// prints one JSON object of results on stdout. Standard library only, so
// it builds offline with Debian's golang-go.
//
//	apiload -kubeconfig FILE -mode crud -concurrency 16 -duration 3s
//	apiload -kubeconfig FILE -mode watch -watchers 100 -events 500
//	apiload -kubeconfig FILE -mode list -objects 10000 -page 500
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type client struct {
	base  string
	token string
	http  *http.Client
}

// kubeconfig reads the server, CA and token from the simple kubeconfig
// dynvol writes (one cluster, one user) without a YAML library.
func kubeconfig(path string) (*client, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &client{}
	var ca []byte
	for _, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "server:"):
			c.base = strings.TrimSpace(strings.TrimPrefix(l, "server:"))
		case strings.HasPrefix(l, "token:"):
			c.token = strings.TrimSpace(strings.TrimPrefix(l, "token:"))
		case strings.HasPrefix(l, "certificate-authority-data:"):
			ca, err = base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(l, "certificate-authority-data:")))
			if err != nil {
				return nil, err
			}
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0, IdleConnTimeout: 90 * time.Second}
	if ca != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		tr.ForceAttemptHTTP2 = true
	}
	c.http = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	return c, nil
}

func (c *client) do(method, path string, body interface{}, ctype string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		if ctype == "" {
			ctype = "application/json"
		}
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func pvc(name, ns string) map[string]interface{} {
	return map[string]interface{}{
		"apiVersion": "v1", "kind": "PersistentVolumeClaim",
		"metadata": map[string]interface{}{"name": name, "namespace": ns},
		"spec": map[string]interface{}{
			"accessModes":      []string{"ReadWriteOnce"},
			"storageClassName": "bench",
			"resources":        map[string]interface{}{"requests": map[string]string{"storage": "1Gi"}},
		},
	}
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(float64(len(d)-1) * p)
	return float64(d[i].Microseconds()) / 1000.0
}

func ensureNS(c *client, ns string) {
	c.do("POST", "/api/v1/namespaces", map[string]interface{}{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]string{"name": ns}}, "")
}

// crud: each worker loops create, get, update (merge patch), delete and
// finalizer removal of its own PVC names; every write is a durable commit
// on the server.
func crud(c *client, conc int, dur time.Duration, ns string) map[string]interface{} {
	ensureNS(c, ns)
	var writes, reads, errs int64
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	deadline := time.Now().Add(dur)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				name := fmt.Sprintf("b-%d-%d", w, i)
				base := "/api/v1/namespaces/" + ns + "/persistentvolumeclaims"
				steps := []struct {
					m, p, ct string
					b        interface{}
					want     int
					write    bool
				}{
					{"POST", base, "", pvc(name, ns), 201, true},
					{"GET", base + "/" + name, "", nil, 200, false},
					{"PATCH", base + "/" + name, "application/merge-patch+json",
						map[string]interface{}{"metadata": map[string]interface{}{"labels": map[string]string{"i": fmt.Sprint(i)}}}, 200, true},
					{"DELETE", base + "/" + name, "", nil, 200, true},
					// the PVC protection finalizer holds the delete:
					// dropping it is the write that removes the object
					{"PATCH", base + "/" + name, "application/merge-patch+json",
						map[string]interface{}{"metadata": map[string]interface{}{"finalizers": nil}}, 200, true},
				}
				for _, s := range steps {
					t0 := time.Now()
					code, _, err := c.do(s.m, s.p, s.b, s.ct)
					if err != nil || code != s.want {
						atomic.AddInt64(&errs, 1)
						continue
					}
					if s.write {
						atomic.AddInt64(&writes, 1)
						lat[w] = append(lat[w], time.Since(t0))
					} else {
						atomic.AddInt64(&reads, 1)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	secs := dur.Seconds()
	return map[string]interface{}{
		"concurrency": conc, "writes_per_s": float64(writes) / secs, "reads_per_s": float64(reads) / secs,
		"write_p50_ms": pct(all, 0.5), "write_p99_ms": pct(all, 0.99), "errors": errs,
	}
}

// watch: W watchers on one namespace; one writer creates objects stamped
// with the send time; each watcher measures arrival minus stamp.
func watch(c *client, watchers, events int, ns string) map[string]interface{} {
	ensureNS(c, ns)
	var mu sync.Mutex
	var lat []time.Duration
	var ready, done sync.WaitGroup
	for w := 0; w < watchers; w++ {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			req, _ := http.NewRequest("GET", c.base+"/api/v1/namespaces/"+ns+"/configmaps?watch=1", nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			cl := &http.Client{Transport: c.http.Transport}
			resp, err := cl.Do(req)
			ready.Done()
			if err != nil {
				return
			}
			defer resp.Body.Close()
			dec := json.NewDecoder(resp.Body)
			got := 0
			for got < events {
				var ev struct {
					Type   string
					Object struct {
						Metadata struct {
							Annotations map[string]string
						}
					}
				}
				if dec.Decode(&ev) != nil {
					return
				}
				if ev.Type != "ADDED" {
					continue
				}
				var sent int64
				fmt.Sscan(ev.Object.Metadata.Annotations["sent"], &sent)
				d := time.Since(time.Unix(0, sent))
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				got++
			}
		}()
	}
	ready.Wait()
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < events; i++ {
		body := map[string]interface{}{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]interface{}{"name": fmt.Sprintf("w-%d", i), "namespace": ns,
				"annotations": map[string]string{"sent": fmt.Sprint(time.Now().UnixNano())}}}
		c.do("POST", "/api/v1/namespaces/"+ns+"/configmaps", body, "")
		time.Sleep(2 * time.Millisecond)
	}
	done.Wait()
	return map[string]interface{}{"watchers": watchers, "events": events, "delivered": len(lat),
		"event_p50_ms": pct(lat, 0.5), "event_p99_ms": pct(lat, 0.99)}
}

// list: load N PVCs (and N PVs when -pvs), then page through them.
func list(c *client, n, page int, ns string, pvs bool) map[string]interface{} {
	ensureNS(c, ns)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				c.do("POST", "/api/v1/namespaces/"+ns+"/persistentvolumeclaims", pvc(fmt.Sprintf("l-%05d", i), ns), "")
				if pvs {
					c.do("POST", "/api/v1/persistentvolumes", map[string]interface{}{
						"apiVersion": "v1", "kind": "PersistentVolume",
						"metadata": map[string]interface{}{"name": fmt.Sprintf("pv-%05d", i)},
						"spec": map[string]interface{}{"capacity": map[string]string{"storage": "1Gi"},
							"accessModes": []string{"ReadWriteOnce"},
							"csi":         map[string]string{"driver": "csi.dynvol.io", "volumeHandle": fmt.Sprintf("v-%05d", i)}}}, "")
				}
			}
		}(w)
	}
	wg.Wait()
	var pages []time.Duration
	total := 0
	t0 := time.Now()
	cont := ""
	for {
		p := fmt.Sprintf("/api/v1/namespaces/%s/persistentvolumeclaims?limit=%d", ns, page)
		if cont != "" {
			p += "&continue=" + cont
		}
		s := time.Now()
		code, data, err := c.do("GET", p, nil, "")
		pages = append(pages, time.Since(s))
		if err != nil || code != 200 {
			break
		}
		var l struct {
			Metadata struct{ Continue string }
			Items    []json.RawMessage
		}
		json.Unmarshal(data, &l)
		total += len(l.Items)
		cont = l.Metadata.Continue
		if cont == "" {
			break
		}
	}
	full := time.Since(t0)
	return map[string]interface{}{"objects": total, "pages": len(pages), "page_p50_ms": pct(pages, 0.5),
		"page_p99_ms": pct(pages, 0.99), "full_list_ms": float64(full.Microseconds()) / 1000.0}
}

func main() {
	kc := flag.String("kubeconfig", "", "kubeconfig file")
	mode := flag.String("mode", "crud", "crud | watch | list")
	conc := flag.Int("concurrency", 16, "crud workers")
	dur := flag.Duration("duration", 3*time.Second, "crud duration")
	watchers := flag.Int("watchers", 100, "watchers")
	events := flag.Int("events", 300, "events per watcher")
	objects := flag.Int("objects", 10000, "objects to list")
	page := flag.Int("page", 500, "page size")
	pvs := flag.Bool("pvs", false, "also create as many PVs (list mode)")
	ns := flag.String("namespace", "bench", "namespace")
	flag.Parse()
	c, err := kubeconfig(*kc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var out map[string]interface{}
	switch *mode {
	case "crud":
		out = crud(c, *conc, *dur, *ns)
	case "watch":
		out = watch(c, *watchers, *events, *ns)
	case "list":
		out = list(c, *objects, *page, *ns, *pvs)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode")
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
