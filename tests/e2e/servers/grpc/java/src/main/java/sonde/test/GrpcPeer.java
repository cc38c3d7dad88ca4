// A gRPC peer in Java (grpc-java over Netty), without generated code: the
// methods are MethodDescriptors of raw bytes, served from a
// ServerServiceDefinition built by hand. The same roles, methods and
// scenarios as ../../../../../peer.py:
//
//   java -jar grpcpeer.jar server PORT
//   java -jar grpcpeer.jar client PORT SCENARIO [COUNT]
//
// With PEER_WAIT set, a client waits for a line on stdin before it connects,
// then prints the calls it made and the status each got as one JSON line.
package sonde.test;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.MethodDescriptor.MethodType;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

public final class GrpcPeer {
	static final String SERVICE = "test.Echo";

	/** Messages are the bytes as they are. */
	static final MethodDescriptor.Marshaller<byte[]> RAW = new MethodDescriptor.Marshaller<>() {
		@Override
		public InputStream stream(byte[] value) {
			return new ByteArrayInputStream(value);
		}

		@Override
		public byte[] parse(InputStream in) {
			try {
				return in.readAllBytes();
			} catch (IOException e) {
				throw Status.INTERNAL.withCause(e).asRuntimeException();
			}
		}
	};

	static MethodDescriptor<byte[], byte[]> method(String name, MethodType type) {
		return MethodDescriptor.<byte[], byte[]>newBuilder()
				.setType(type)
				.setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, name))
				.setRequestMarshaller(RAW)
				.setResponseMarshaller(RAW)
				.build();
	}

	static final MethodDescriptor<byte[], byte[]> UNARY = method("Unary", MethodType.UNARY);
	static final MethodDescriptor<byte[], byte[]> FAIL = method("Fail", MethodType.UNARY);
	static final MethodDescriptor<byte[], byte[]> STREAM = method("Stream", MethodType.SERVER_STREAMING);
	static final MethodDescriptor<byte[], byte[]> SLOW = method("Slow", MethodType.UNARY);

	static void server(int port) throws Exception {
		ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
		ServerServiceDefinition echo = ServerServiceDefinition.builder(SERVICE)
				.addMethod(UNARY, ServerCalls.asyncUnaryCall((req, out) -> {
					out.onNext(req);
					out.onCompleted();
				}))
				.addMethod(FAIL, ServerCalls.asyncUnaryCall((req, out) -> {
					int code = req.length > 0 ? req[0] : Status.Code.INTERNAL.value();
					out.onError(Status.fromCodeValue(code).withDescription("failed on purpose")
							.asRuntimeException());
				}))
				.addMethod(STREAM, ServerCalls.asyncServerStreamingCall((req, out) -> {
					int n = req.length > 0 ? req[0] : 3;
					for (int i = 0; i < n; i++) {
						byte[] msg = new byte[10];
						Arrays.fill(msg, (byte) i);
						out.onNext(msg);
					}
					out.onCompleted();
				}))
				.addMethod(SLOW, ServerCalls.asyncUnaryCall((req, out) -> {
					ServerCallStreamObserver<byte[]> call = (ServerCallStreamObserver<byte[]>) out;
					call.setOnCancelHandler(() -> { });
					timer.schedule(() -> {
						if (!call.isCancelled()) {
							call.onNext(req);
							call.onCompleted();
						}
					}, 3, TimeUnit.SECONDS);
				}))
				.build();
		Server s = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
				.addService(echo)
				.build()
				.start();
		System.out.println("listening");
		System.out.flush();
		s.awaitTermination();
	}

	static CallOptions deadline(int seconds) {
		return CallOptions.DEFAULT.withDeadlineAfter(seconds, TimeUnit.SECONDS);
	}

	static void client(int port, String scenario, int count) throws Exception {
		if (System.getenv("PEER_WAIT") != null) // traced from its first byte: the test says when
			new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
		ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
		List<String> calls = new ArrayList<>();
		switch (scenario) {
		case "unary":
			for (int i = 0; i < count; i++) {
				ClientCalls.blockingUnaryCall(ch, UNARY, deadline(10),
						("hello " + i).getBytes(StandardCharsets.UTF_8));
				calls.add(call("Unary", 0));
			}
			break;
		case "errors":
			for (int code : new int[] { 5, 3, 13, 14 }) {
				try {
					ClientCalls.blockingUnaryCall(ch, FAIL, deadline(10), new byte[] { (byte) code });
					calls.add(call("Fail", 0));
				} catch (StatusRuntimeException e) {
					calls.add(call("Fail", e.getStatus().getCode().value()));
				}
			}
			break;
		case "stream":
			for (int i = 0; i < count; i++) {
				Iterator<byte[]> it = ClientCalls.blockingServerStreamingCall(ch, STREAM, deadline(10),
						new byte[] { 5 });
				int got = 0;
				while (it.hasNext()) {
					it.next();
					got++;
				}
				if (got != 5)
					throw new IllegalStateException("stream gave " + got + " messages");
				calls.add(call("Stream", 0));
			}
			break;
		case "concurrent": {
			List<Future<byte[]>> futures = new ArrayList<>();
			byte[] msg = new byte[100];
			Arrays.fill(msg, (byte) 'x');
			for (int i = 0; i < count; i++)
				futures.add(ClientCalls.futureUnaryCall(ch.newCall(UNARY, deadline(20)), msg));
			for (Future<byte[]> f : futures) {
				f.get();
				calls.add(call("Unary", 0));
			}
			break;
		}
		case "cancel": {
			Future<byte[]> f = ClientCalls.futureUnaryCall(ch.newCall(SLOW, deadline(20)),
					"slow".getBytes(StandardCharsets.UTF_8));
			Thread.sleep(500);
			f.cancel(true);
			try {
				f.get();
			} catch (ExecutionException | java.util.concurrent.CancellationException e) {
				// cancelled, as meant
			}
			calls.add(call("Slow", Status.Code.CANCELLED.value()));
			Thread.sleep(300);
			break;
		}
		default:
			throw new IllegalArgumentException("unknown scenario " + scenario);
		}
		ch.shutdown().awaitTermination(5, TimeUnit.SECONDS);
		System.out.println("{\"calls\": [" + String.join(", ", calls) + "]}");
		System.out.flush();
	}

	static String call(String method, int code) {
		return "[\"" + method + "\", " + code + "]";
	}

	public static void main(String[] args) throws Exception {
		int port = Integer.parseInt(args[1]);
		if (args[0].equals("server")) {
			server(port);
			return;
		}
		client(port, args[2], args.length > 3 ? Integer.parseInt(args[3]) : 1);
		System.exit(0);
	}
}
