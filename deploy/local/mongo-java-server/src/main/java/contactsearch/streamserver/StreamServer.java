package contactsearch.streamserver;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import org.h2.mvstore.MVStore;

/**
 * Runs mongo-java-server as a MongoDB wire server with change streams, for local development and integration tests.
 *
 * <pre>
 * java -cp "lib/*:stream-server.jar" contactsearch.streamserver.StreamServer \
 *     [--host 127.0.0.1] [--port 27018] [--data-file FILE] [--oplog-max-entries 100000] [--log-level off]
 * </pre>
 *
 * Without --data-file everything is kept in memory and lost on exit. The library's own log is off by default: at
 * error level it prints whole command documents, which hold contacts' personal data.
 */
public final class StreamServer {

    private static final Set<String> OPTIONS =
        Set.of("--host", "--port", "--data-file", "--oplog-max-entries", "--log-level");

    private StreamServer() {
    }

    public static void main(String[] args) {
        Map<String, String> options;
        try {
            options = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("stream-server: " + e.getMessage());
            System.err.println("usage: StreamServer [--host H] [--port P] [--data-file F] [--oplog-max-entries N]"
                + " [--log-level off|error|warn|info|debug]");
            System.exit(2);
            return;
        }
        String host = options.getOrDefault("--host", "127.0.0.1");
        int port = number(options, "--port", 27018);
        int oplogMaxEntries = number(options, "--oplog-max-entries", 100_000);
        String dataFile = options.get("--data-file");
        // slf4j-simple reads these when the first logger is made, which is below.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", options.getOrDefault("--log-level", "off"));
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");

        MVStore store;
        try {
            store = openStore(dataFile);
        } catch (IOException | RuntimeException e) {
            System.err.println("stream-server: cannot open data file " + dataFile + ": " + e.getMessage());
            System.exit(1);
            return;
        }
        StreamBackend backend = new StreamBackend(store, oplogMaxEntries);
        backend.enableOplog();
        WireServer server = new WireServer(backend);
        InetSocketAddress address;
        try {
            address = server.bind(host, port);
        } catch (RuntimeException e) {
            System.err.println("stream-server: cannot listen on " + host + ":" + port + ": " + e);
            backend.close();
            System.exit(1);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            System.err.println("stream-server: stopped");
        }, "shutdown"));
        System.err.printf("stream-server: listening on mongodb://%s:%d/, %s, oplog of at most %d entries%n",
            address.getHostString(), address.getPort(),
            dataFile == null ? "in memory (lost on exit)" : "data in " + dataFile, oplogMaxEntries);
    }

    private static MVStore openStore(String dataFile) throws IOException {
        if (dataFile == null) {
            return MVStore.open(null);
        }
        Path path = Path.of(dataFile).toAbsolutePath();
        Files.createDirectories(path.getParent());
        return MVStore.open(path.toString());
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i < args.length; i += 2) {
            if (!OPTIONS.contains(args[i])) {
                throw new IllegalArgumentException("unknown option " + args[i]);
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(args[i] + " needs a value");
            }
            options.put(args[i], args[i + 1]);
        }
        return options;
    }

    private static int number(Map<String, String> options, String name, int fallback) {
        String value = options.get(name);
        if (value == null) {
            return fallback;
        }
        try {
            int parsed = Integer.parseInt(value);
            if (parsed <= 0) {
                throw new NumberFormatException();
            }
            return parsed;
        } catch (NumberFormatException e) {
            System.err.println("stream-server: " + name + " must be a positive number, got " + value);
            System.exit(2);
            return fallback;
        }
    }
}
