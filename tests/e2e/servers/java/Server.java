// Java sample server for Sonde's end-to-end tests (com.sun.net.httpserver).
//
// Build: javac -d OUTDIR Server.java      Run: java -cp OUTDIR Server PORT
// (PORT may also come from the environment.)
//
// Same behaviour as every sample server (see ../README.md): any method on any
// path; ?status=NNN sets the status; ?delay=200ms (Go duration syntax) sleeps
// before responding; the request body is read in full; the response body is
// "<status> <METHOD> <path> <request body bytes>\n" with a Content-Length.

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class Server {
    private static final Pattern PART =
            Pattern.compile("(\\d+(?:\\.\\d*)?|\\.\\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)");

    /** Nanoseconds from a Go duration string such as 200ms, 1s, 1m30s, 1.5s. */
    static long parseDuration(String text) {
        if (text == null || text.isEmpty() || text.equals("0")) {
            return 0;
        }
        Matcher m = PART.matcher(text);
        int pos = 0;
        double total = 0;
        while (pos < text.length()) {
            if (!m.find(pos) || m.start() != pos) {
                throw new IllegalArgumentException("bad duration " + text);
            }
            double v = Double.parseDouble(m.group(1));
            switch (m.group(2)) {
                case "ns": total += v; break;
                case "us": case "\u00b5s": case "\u03bcs": total += v * 1e3; break;
                case "ms": total += v * 1e6; break;
                case "s": total += v * 1e9; break;
                case "m": total += v * 60e9; break;
                default: total += v * 3600e9; break;
            }
            pos = m.end();
        }
        return (long) Math.ceil(total);
    }

    static Map<String, String> query(String raw) {
        Map<String, String> out = new HashMap<>();
        if (raw == null) {
            return out;
        }
        for (String kv : raw.split("&")) {
            int eq = kv.indexOf('=');
            if (eq > 0) {
                out.put(kv.substring(0, eq), kv.substring(eq + 1));
            } else if (!kv.isEmpty()) {
                out.put(kv, "");
            }
        }
        return out;
    }

    static void sleepAtLeast(long nanos) throws InterruptedException {
        long deadline = System.nanoTime() + nanos;
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            Thread.sleep(left / 1_000_000, (int) (left % 1_000_000));
        }
    }

    static final class Handler implements HttpHandler {
        @Override
        public void handle(HttpExchange ex) throws IOException {
            try {
                long received = 0;
                byte[] buf = new byte[8192];
                try (InputStream in = ex.getRequestBody()) {
                    int n;
                    while ((n = in.read(buf)) > 0) {
                        received += n;
                    }
                }
                Map<String, String> q = query(ex.getRequestURI().getRawQuery());
                int status;
                long delay;
                try {
                    status = Integer.parseInt(q.getOrDefault("status", "200"));
                    delay = parseDuration(q.get("delay"));
                } catch (IllegalArgumentException e) {
                    send(ex, 400, "bad query: " + e.getMessage() + "\n");
                    return;
                }
                if (delay > 0) {
                    sleepAtLeast(delay);
                }
                send(ex, status, status + " " + ex.getRequestMethod() + " "
                        + ex.getRequestURI().getRawPath() + " " + received + "\n");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                ex.close();
            }
        }

        private static void send(HttpExchange ex, int status, String text) throws IOException {
            byte[] body = text.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
            ex.sendResponseHeaders(status, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }

    public static void main(String[] args) throws IOException {
        String p = args.length > 0 ? args[0] : System.getenv().getOrDefault("PORT", "8080");
        String host = System.getenv().getOrDefault("HOST", "127.0.0.1");
        HttpServer server = HttpServer.create(new InetSocketAddress(host, Integer.parseInt(p)), 128);
        server.createContext("/", new Handler());
        ExecutorService pool = Executors.newFixedThreadPool(8);
        server.setExecutor(pool);
        server.start();
        System.out.println("java listening on " + host + ":" + p);
        System.out.flush();
    }
}
