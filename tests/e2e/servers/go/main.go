// Go sample server for Sonde's end-to-end tests (net/http only).
//
// Build: GO111MODULE=off go build -o OUT main.go     Run: OUT PORT
// (PORT may also come from the environment.)
//
// Same behaviour as every sample server (see ../README.md): any method on any
// path; ?status=NNN sets the status; ?delay=200ms (Go duration syntax) sleeps
// before responding; the request body is read in full; the response body is
// "<status> <METHOD> <path> <request body bytes>\n" with a Content-Length.
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func handle(w http.ResponseWriter, r *http.Request) {
	received, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	status := http.StatusOK
	if s := q.Get("status"); s != "" {
		if status, err = strconv.Atoi(s); err != nil {
			http.Error(w, "bad status", http.StatusBadRequest)
			return
		}
	}
	if d := q.Get("delay"); d != "" {
		delay, err := time.ParseDuration(d)
		if err != nil {
			http.Error(w, "bad delay", http.StatusBadRequest)
			return
		}
		deadline := time.Now().Add(delay)
		for left := time.Until(deadline); left > 0; left = time.Until(deadline) {
			time.Sleep(left)
		}
	}
	body := fmt.Sprintf("%d %s %s %d\n", status, r.Method, r.URL.EscapedPath(), received)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func main() {
	port := os.Getenv("PORT")
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	if port == "" {
		port = "8080"
	}
	host := os.Getenv("HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	addr := host + ":" + port
	log.Printf("go listening on %s", addr)
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(handle), IdleTimeout: 30 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
