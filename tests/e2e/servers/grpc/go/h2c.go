// A plain HTTP server speaking HTTP/2 in clear (h2c) through
// golang.org/x/net/http2/h2c: with prior knowledge, or after an HTTP/1.1
// "Upgrade: h2c" (RFC 7540 section 3.2), on the same port. It also
// answers a WebSocket-style upgrade on /ws with a 101 of its own and then
// echoes raw bytes: a 101 that does not switch to HTTP/2. "OPTIONS *"
// reaches the handler too (nghttp -u upgrades with it when it sends
// bodies), answered 200 with an empty body.
//
//	grpcpeer h2c PORT
package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func h2cServer(port string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "6")
		io.WriteString(w, "hello\n")
	})
	mux.HandleFunc("/bytes/", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Path[len("/bytes/"):])
		if err != nil || n < 0 || n > 1<<24 {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		w.Write(make([]byte, n))
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		rw.Flush()
		echo(conn, rw.Reader)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	})
	lis, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		panic(err)
	}
	all := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && r.RequestURI == "*" {
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			w.Header().Set("Content-Length", "0")
			return
		}
		mux.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h2c.NewHandler(all, &http2.Server{}),
		DisableGeneralOptionsHandler: true}
	panic(srv.Serve(lis))
}

// echo returns what it reads until the peer closes.
func echo(conn net.Conn, r *bufio.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
