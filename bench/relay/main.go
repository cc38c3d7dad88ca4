// Client-heavy front for `make bench` (bench/bench.py builds it with
// GO111MODULE=off into a temp dir, like bench/hello/main.go).
//
// Usage: relay [-idle N] ADDR DOWNSTREAM, e.g.
//
//	relay -idle 64 127.0.0.1:8080 http://127.0.0.1:8081
//
// For each request it makes one GET to DOWNSTREAM + the request's path and
// query, through one shared keep-alive http.Client (MaxIdleConnsPerHost N,
// so that as many calls as there are concurrent requests reuse pooled
// connections instead of opening new ones), reads the downstream answer to
// the end (the connection goes back to the pool), and answers 200 with the
// downstream body (502 with the error if the call failed).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	idle := flag.Int("idle", 64, "MaxIdleConnsPerHost (and MaxIdleConns) of the downstream pool")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: relay [-idle N] ADDR DOWNSTREAM_URL")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	addr, down := flag.Arg(0), flag.Arg(1)
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        *idle,
			MaxIdleConnsPerHost: *idle,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(down + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, err := io.ReadAll(resp.Body) // to the end: the connection is reused
		resp.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	})
	fmt.Fprintf(os.Stderr, "relay: %s -> %s, MaxIdleConnsPerHost %d\n", addr, down, *idle)
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
