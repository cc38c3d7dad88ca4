// Relay service of the client-span chain in Java: com.sun.net.httpserver with
// an 8-thread pool (one request per thread at a time); each request calls the
// next service WHILE it is handled, from the handling thread, with
// HttpURLConnection (blocking, keep-alive connections pooled by the JDK).
//
// Build: javac -d OUTDIR Relay.java      Run: java -cp OUTDIR Relay PORT
// Environment: DOWN_PORT (next service on 127.0.0.1), DOWN_PREFIX (e.g.
// "/middle/"), OTEL_SERVICE_NAME (read by Sonde from /proc/PID/environ),
// RELAY_THREADS (pool size, default 8), RELAY_ASYNC=1: the handler returns at
// once and the downstream call and the response run as a task of the same
// pool -- often on another thread than the one that read the request, which
// may by then be reading another request (as async servlets, Vert.x or
// WebFlux do).
//
//   GET /<anything>/<id>[?query]  -> GET 127.0.0.1:DOWN_PORT DOWN_PREFIX<id>[?query]
//   answers 200 {"down_status": S, "down_bytes": N} (502 {"error": ...} on failure)

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

public final class Relay {
    static final int DOWN_PORT = Integer.parseInt(System.getenv().getOrDefault("DOWN_PORT", "0"));
    static final String DOWN_PREFIX = System.getenv().getOrDefault("DOWN_PREFIX", "/back/");

    static final int THREADS = Integer.parseInt(System.getenv().getOrDefault("RELAY_THREADS", "8"));
    static final boolean ASYNC = "1".equals(System.getenv("RELAY_ASYNC"));
    static final ExecutorService POOL = Executors.newFixedThreadPool(THREADS);

    static void handle(HttpExchange ex) throws IOException {
        try (InputStream in = ex.getRequestBody()) {
            in.readAllBytes();
        }
        if (ASYNC) {
            POOL.execute(() -> {
                try {
                    respond(ex);
                } catch (IOException | RuntimeException e) {
                    ex.close();
                }
            });
            return;
        }
        respond(ex);
    }

    static void respond(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getRawPath();
        String id = path.substring(path.lastIndexOf('/') + 1);
        String query = ex.getRequestURI().getRawQuery();
        String target = DOWN_PREFIX + id + (query != null ? "?" + query : "");
        int status = 200;
        String body;
        try {
            HttpURLConnection c = (HttpURLConnection)
                    new URL("http", "127.0.0.1", DOWN_PORT, target).openConnection();
            c.setConnectTimeout(5000);
            c.setReadTimeout(30000);
            int down = c.getResponseCode();
            InputStream is = down < 400 ? c.getInputStream() : c.getErrorStream();
            long n = 0;
            if (is != null) {
                try (InputStream r = is) {
                    n = r.readAllBytes().length; // read to the end: the connection is reused
                }
            }
            body = "{\"down_status\": " + down + ", \"down_bytes\": " + n + "}\n";
        } catch (IOException e) {
            status = 502;
            body = "{\"error\": \"" + e.toString().replace("\"", "'") + "\"}\n";
        }
        byte[] out = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, out.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(out);
        }
        ex.close();
    }

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(args.length > 0 ? args[0] : System.getenv().getOrDefault("PORT", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 128);
        server.createContext("/", ex -> {
            try {
                handle(ex);
            } catch (IOException | RuntimeException e) {
                ex.close();
            }
        });
        server.setExecutor(POOL);
        server.start();
        System.out.println("java relay listening on 127.0.0.1:" + port + " -> " + DOWN_PORT + DOWN_PREFIX);
        System.out.flush();
    }
}
