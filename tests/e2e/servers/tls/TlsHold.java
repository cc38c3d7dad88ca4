// SPDX-License-Identifier: Apache-2.0
// A TLS client without OpenSSL (Java's own TLS, JSSE): Sonde has no uprobes
// for it. On a line from stdin it opens N connections to 127.0.0.1:PORT
// (trusting CERT), sends one HTTP request on each and reads a byte of the
// answer, says "open", and closes them all on the next line.
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

public class TlsHold {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int n = Integer.parseInt(args[1]);
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        try (InputStream in = new FileInputStream(args[2])) {
            ks.setCertificateEntry("c", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        System.out.println("ready");
        System.out.flush();
        System.in.read();
        SSLSocket[] socks = new SSLSocket[n];
        for (int i = 0; i < n; i++) {
            socks[i] = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port);
            socks[i].startHandshake();
            OutputStream o = socks[i].getOutputStream();
            o.write(("GET /java/" + i + " HTTP/1.1\r\nHost: localhost\r\n\r\n").getBytes());
            o.flush();
            if (socks[i].getInputStream().read() < 0)
                throw new RuntimeException("no answer");
        }
        System.out.println("open");
        System.out.flush();
        while (System.in.read() != '\n') {
        }
        for (SSLSocket s : socks)
            s.close();
    }
}
