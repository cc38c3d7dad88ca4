// A gRPC peer in Go (grpc-go), without generated code: messages are raw
// bytes (a codec that passes them through). The same roles, methods and
// scenarios as ../peer.py:
//
//	grpcpeer server PORT
//	grpcpeer client PORT SCENARIO [COUNT]
//	grpcpeer h2c PORT (h2c.go)
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func handle(srv any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	var req []byte
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	switch method {
	case "/test.Echo/Unary":
		return stream.SendMsg(&req)
	case "/test.Echo/Fail":
		code := codes.Internal
		if len(req) > 0 {
			code = codes.Code(req[0])
		}
		return status.Error(code, "failed on purpose")
	case "/test.Echo/Stream":
		n := 3
		if len(req) > 0 {
			n = int(req[0])
		}
		for i := 0; i < n; i++ {
			msg := make([]byte, 10)
			if err := stream.SendMsg(&msg); err != nil {
				return err
			}
		}
		return nil
	case "/test.Echo/Relay":
		if err := relay(stream.Context(), string(req)); err != nil {
			return status.Error(codes.Unavailable, err.Error())
		}
		return stream.SendMsg(&req)
	case "/test.Echo/Slow":
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-time.After(3 * time.Second):
			return stream.SendMsg(&req)
		}
	}
	return status.Error(codes.Unimplemented, method)
}

var (
	downstreamMu sync.Mutex
	downstreams  = map[string]*grpc.ClientConn{}
)

// relay makes the outgoing call a Relay request names: "http PORT PATH"
// (an HTTP/1 GET) or "grpc PORT SIZE" (a Unary call of SIZE bytes), one
// channel per port.
func relay(ctx context.Context, what string) error {
	f := strings.Fields(what)
	if len(f) != 3 {
		return errors.New("relay: want KIND PORT ARG")
	}
	if f[0] == "http" {
		resp, err := http.Get("http://127.0.0.1:" + f[1] + f[2])
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	downstreamMu.Lock()
	conn := downstreams[f[1]]
	if conn == nil {
		var err error
		conn, err = grpc.NewClient("127.0.0.1:"+f[1],
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			downstreamMu.Unlock()
			return err
		}
		downstreams[f[1]] = conn
	}
	downstreamMu.Unlock()
	n, _ := strconv.Atoi(f[2])
	req, resp := make([]byte, n), []byte(nil)
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return conn.Invoke(c, "/test.Echo/Unary", &req, &resp)
}

func server(port string) {
	lis, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		panic(err)
	}
	opts := []grpc.ServerOption{grpc.UnknownServiceHandler(handle), grpc.ForceServerCodec(rawCodec{})}
	if cert := os.Getenv("PEER_TLS_CERT"); cert != "" {
		// gRPC over TLS (ALPN h2): the certificate and key the test made
		creds, err := credentials.NewServerTLSFromFile(cert, os.Getenv("PEER_TLS_KEY"))
		if err != nil {
			panic(err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	s := grpc.NewServer(opts...)
	fmt.Println("listening")
	if err := s.Serve(lis); err != nil {
		panic(err)
	}
}

func client(port, scenario string, count int) {
	if os.Getenv("PEER_WAIT") != "" {
		// traced from its first byte: the test says when
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	creds := insecure.NewCredentials()
	if ca := os.Getenv("PEER_TLS_CA"); ca != "" {
		var err error
		if creds, err = credentials.NewClientTLSFromFile(ca, "localhost"); err != nil {
			panic(err)
		}
	}
	conn, err := grpc.NewClient("127.0.0.1:"+port, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	var calls [][]any
	var mu sync.Mutex
	add := func(m string, code codes.Code) {
		mu.Lock()
		calls = append(calls, []any{m, int(code)})
		mu.Unlock()
	}
	ctx := context.Background()
	unary := func(m string, req []byte) codes.Code {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		var resp []byte
		return status.Code(conn.Invoke(c, "/test.Echo/"+m, &req, &resp))
	}
	switch scenario {
	case "unary":
		for i := 0; i < count; i++ {
			add("Unary", unary("Unary", []byte(fmt.Sprintf("hello %d", i))))
		}
	case "errors":
		for _, code := range []byte{5, 3, 13, 14} {
			add("Fail", unary("Fail", []byte{code}))
		}
	case "stream":
		for i := 0; i < count; i++ {
			st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/test.Echo/Stream")
			if err != nil {
				panic(err)
			}
			req := []byte{5}
			st.SendMsg(&req)
			st.CloseSend()
			n := 0
			for {
				var m []byte
				err := st.RecvMsg(&m)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					panic(err)
				}
				n++
			}
			if n != 5 {
				panic("short stream")
			}
			add("Stream", codes.OK)
		}
	case "concurrent":
		// warm the connection first: every call then shares it
		add("Unary", unary("Unary", []byte("warm")))
		var wg sync.WaitGroup
		for i := 1; i < count; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				add("Unary", unary("Unary", make([]byte, 100)))
			}()
		}
		wg.Wait()
	case "load":
		// the benchmark's load (bench/grpc.py): COUNT goroutines calling
		// Unary back to back on the one connection for PEER_SECONDS
		secs, _ := strconv.ParseFloat(os.Getenv("PEER_SECONDS"), 64)
		if secs <= 0 {
			secs = 1
		}
		unary("Unary", []byte("warm"))
		deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
		var n atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; i < count; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := make([]byte, 100)
				for time.Now().Before(deadline) {
					if unary("Unary", msg) == codes.OK {
						n.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		out, _ := json.Marshal(map[string]any{"calls": n.Load(), "seconds": time.Since(start).Seconds()})
		fmt.Println(string(out))
		return
	case "cancel":
		c, cancel := context.WithCancel(ctx)
		go func() { time.Sleep(500 * time.Millisecond); cancel() }()
		var resp []byte
		req := []byte("slow")
		add("Slow", status.Code(conn.Invoke(c, "/test.Echo/Slow", &req, &resp)))
		time.Sleep(300 * time.Millisecond)
	}
	out, _ := json.Marshal(map[string]any{"calls": calls})
	fmt.Println(string(out))
}

func main() {
	if os.Args[1] == "server" {
		server(os.Args[2])
		return
	}
	if os.Args[1] == "h2c" {
		h2cServer(os.Args[2])
		return
	}
	count := 1
	if len(os.Args) > 4 {
		count, _ = strconv.Atoi(os.Args[4])
	}
	client(os.Args[2], os.Args[3], count)
}
