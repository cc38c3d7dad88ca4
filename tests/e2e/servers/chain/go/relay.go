// Relay service of the client-span chain in Go: net/http server (a goroutine
// per request, goroutines migrate between OS threads) calling the next
// service WHILE it handles the request, through http.Client's keep-alive pool.
//
// Build: GO111MODULE=off go build -o OUT relay.go     Run: OUT PORT
// Environment: DOWN_PORT (next service on 127.0.0.1), DOWN_PREFIX (e.g.
// "/back/"), OTEL_SERVICE_NAME (read by Sonde from /proc/PID/environ).
//
//   GET /<anything>/<id>[?query]  -> GET 127.0.0.1:DOWN_PORT DOWN_PREFIX<id>[?query]
//   answers 200 {"down_status": S, "down_bytes": N} (502 {"error": ...} on failure)
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 60 * time.Second},
}

func main() {
	port := os.Getenv("PORT")
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	downPort := os.Getenv("DOWN_PORT")
	prefix := os.Getenv("DOWN_PREFIX")
	if prefix == "" {
		prefix = "/back/"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		url := "http://127.0.0.1:" + downPort + prefix + id
		if r.URL.RawQuery != "" {
			url += "?" + r.URL.RawQuery
		}
		w.Header().Set("Content-Type", "application/json")
		resp, err := client.Get(url)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "{\"error\": %q}\n", err.Error())
			return
		}
		n, _ := io.Copy(io.Discard, resp.Body) // read to the end: the connection is reused
		resp.Body.Close()
		fmt.Fprintf(w, "{\"down_status\": %d, \"down_bytes\": %d}\n", resp.StatusCode, n)
	})
	addr := "127.0.0.1:" + port
	log.Printf("go relay listening on %s -> %s%s", addr, downPort, prefix)
	log.Fatal(http.ListenAndServe(addr, nil))
}
