// The demo service: answers any path; ?status=N sets the status code and
// ?delay=250ms makes it wait first (Go duration syntax), like the seed
// tutorial's sample server. ?down=PORT first calls the same path (without
// down=) on localhost:PORT, so two instances make a small chain for the
// service graph of the live view.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

func handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	status := http.StatusOK
	if s, err := strconv.Atoi(r.URL.Query().Get("status")); err == nil && s >= 100 && s < 600 {
		status = s
	}
	if d, err := time.ParseDuration(r.URL.Query().Get("delay")); err == nil {
		time.Sleep(d)
	}
	if down := r.URL.Query().Get("down"); down != "" {
		q := r.URL.Query()
		q.Del("down")
		resp, err := http.Get("http://localhost:" + down + r.URL.Path + "?" + q.Encode())
		if err != nil {
			status = http.StatusBadGateway
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s %s: %d bytes received\n", r.Method, r.URL.Path, len(body))
}

func main() {
	addr := ":8080"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if err := http.ListenAndServe(addr, http.HandlerFunc(handle)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
