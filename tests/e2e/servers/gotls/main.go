// An HTTPS server and client on Go's crypto/tls, for Sonde's tests: the Go
// binary inspection's unit tests (tests/unit/test_gobin.c) build it with two
// Go versions, with and without symbols; the end-to-end TLS tests run it.
//
//	gotls server PORT CERT KEY      serves /status/N (answers N) and any path
//	                                (200, a body of ?size=N bytes, default 2)
//	gotls client URL COUNT CAFILE   COUNT GETs of URL on one keep-alive
//	                                connection, then prints "done"; with
//	                                GOTLS_WAIT=1, first waits for a line on
//	                                stdin (a test's cue that it is traced);
//	                                with GOTLS_BODY=N, POSTs of N bytes
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func serve(port, cert, key string) {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(r.URL.Path, "/status/") {
			code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
			if err != nil || code < 200 || code > 599 {
				code = 400
			}
			w.WriteHeader(code)
			return
		}
		size := 2
		if v, err := strconv.Atoi(r.URL.Query().Get("size")); err == nil && v >= 0 {
			size = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write([]byte(strings.Repeat("k", size)))
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServeTLS("127.0.0.1:"+port, cert, key, nil))
	os.Exit(1)
}

func client(url string, count int, caFile string) {
	waitCue()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 1}}
	body, _ := strconv.Atoi(os.Getenv("GOTLS_BODY"))
	for i := 0; i < count; i++ {
		var resp *http.Response
		var err error
		if body > 0 {
			resp, err = c.Post(url, "application/octet-stream",
				strings.NewReader(strings.Repeat("b", body)))
		} else {
			resp, err = c.Get(url)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, n)
	}
	fmt.Println("done")
}

func waitCue() {
	if os.Getenv("GOTLS_WAIT") == "1" {
		fmt.Println("waiting")
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
}

func main() {
	if len(os.Args) == 5 && os.Args[1] == "server" {
		serve(os.Args[2], os.Args[3], os.Args[4])
	}
	if len(os.Args) == 5 && os.Args[1] == "client" {
		n, _ := strconv.Atoi(os.Args[3])
		client(os.Args[2], n, os.Args[4])
		return
	}
	fmt.Fprintln(os.Stderr, "usage: gotls server PORT CERT KEY | gotls client URL COUNT CAFILE")
	os.Exit(64)
}
