// Hello-world net/http server for `make bench` (bench/bench.py builds it with
// GO111MODULE=off into a temp dir). Usage: hello ADDR, e.g. hello 127.0.0.1:8080.
package main

import (
	"fmt"
	"net/http"
	"os"
)

var body = []byte("Hello, world!\n")

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hello ADDR")
		os.Exit(2)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(body)
	})
	if err := http.ListenAndServe(os.Args[1], nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
