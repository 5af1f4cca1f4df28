package contactsearch.streamserver;

import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.backend.Cursor;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import de.bwaldvogel.mongo.oplog.Oplog;

/**
 * A bounded oplog that records what MongoDB's change events need (post-images, update descriptions) and opens
 * {@link ChangeStreamCursor}s on it.
 *
 * <p>Entries live in a sorted in-memory map for reading and in {@code local.oplog.rs} for surviving a restart (the H2
 * backend writes that collection to disk). Once more than {@code maxEntries} are held, the oldest are dropped and the
 * floor rises: a stream can only resume from a position at or after the floor, like MongoDB's oplog window.
 */
final class ChangeStreamOplog implements Oplog {

    static final String INSERT = "i";
    static final String UPDATE = "u";
    static final String REPLACE = "r";
    static final String DELETE = "d";
    static final String COMMAND = "c";

    private static final String FLOOR_ID = "floor";

    private final StreamBackend backend;
    private final MongoCollection<Document> store;
    private final MongoCollection<Document> meta;
    private final CursorRegistry cursors;
    private final Clock clock;
    private final int maxEntries;
    private final int trimSlack;

    private final ConcurrentSkipListMap<Long, Document> entries = new ConcurrentSkipListMap<>();
    private final Set<Runnable> waiters = ConcurrentHashMap.newKeySet();
    private final Object appendLock = new Object();
    /** The cursor the current thread's aggregate opened: the backend adds its postBatchResumeToken to the reply. */
    private final ThreadLocal<ChangeStreamCursor> openedByThisThread = new ThreadLocal<>();

    private int size;
    private long allocated;
    /** The newest timestamp whose entry (if any) is readable; every entry up to it is in {@link #entries}. */
    private volatile long latest;
    /** Streams may start after any position >= floor; older ones lost history. */
    private volatile long floor;

    ChangeStreamOplog(StreamBackend backend, MongoCollection<Document> store, MongoCollection<Document> meta,
                      CursorRegistry cursors, Clock clock, int maxEntries) {
        this.backend = backend;
        this.store = store;
        this.meta = meta;
        this.cursors = cursors;
        this.clock = clock;
        this.maxEntries = maxEntries;
        this.trimSlack = maxEntries / 100;
        for (Document entry : store.queryAll()) {
            entries.put(((BsonTimestamp) entry.get("ts")).getValue(), entry);
        }
        size = entries.size();
        Document savedFloor = meta.handleQueryAsStream(new Document("_id", FLOOR_ID)).findFirst().orElse(null);
        synchronized (appendLock) {
            allocated = entries.isEmpty() ? 0 : entries.lastKey();
            if (savedFloor != null) {
                floor = ((BsonTimestamp) savedFloor.get("ts")).getValue();
                allocated = Math.max(allocated, floor);
            } else {
                // A fresh oplog starts now: a token from another server's history is lost history here.
                floor = nextTimestamp();
                saveFloor();
            }
            latest = allocated;
        }
    }

    long latest() {
        return latest;
    }

    long floor() {
        return floor;
    }

    /** Entries with position < timestamp <= upTo, oldest first. */
    Collection<Document> entriesBetween(long position, long upTo) {
        if (upTo <= position) {
            return List.of();
        }
        return entries.subMap(position, false, upTo, true).values();
    }

    Document entryAt(long timestamp) {
        return entries.get(timestamp);
    }

    /** The current version of a document, or null if it no longer exists (what updateLookup returns). */
    Document lookUp(String namespace, Object id) {
        String[] parts = splitNamespace(namespace);
        MongoCollection<?> collection = backend.resolveDatabase(parts[0]).resolveCollection(parts[1], false);
        if (collection == null) {
            return null;
        }
        return collection.handleQueryAsStream(new Document("_id", id)).findFirst().orElse(null);
    }

    static String[] splitNamespace(String namespace) {
        int dot = namespace.indexOf('.');
        return new String[] {namespace.substring(0, dot), namespace.substring(dot + 1)};
    }

    // --- recording --------------------------------------------------------------------------

    @Override
    public void handleInsert(String namespace, List<Document> documents) {
        if (!recorded(namespace)) {
            return;
        }
        for (Document document : documents) {
            append(INSERT, namespace, document.cloneDeeply(), document.get("_id"));
        }
    }

    @Override
    public void handleUpdate(String namespace, Document selector, Document update, List<Object> modifiedIds) {
        if (!recorded(namespace)) {
            return;
        }
        boolean replacement = update.keySet().stream().noneMatch(key -> key.startsWith("$"));
        for (Object id : modifiedIds) {
            Document current = lookUp(namespace, id);
            if (replacement) {
                Document image = current != null ? current.cloneDeeply() : new Document("_id", id).appendAll(update);
                append(REPLACE, namespace, image, id);
            } else {
                append(UPDATE, namespace, UpdateDescription.of(update, current), id);
            }
        }
    }

    @Override
    public void handleDelete(String namespace, Document selector, List<Object> deletedIds) {
        if (!recorded(namespace)) {
            return;
        }
        for (Object id : deletedIds) {
            append(DELETE, namespace, new Document("_id", id), id);
        }
    }

    void handleDropDatabase(String database) {
        if (recorded(database + ".$cmd")) {
            append(COMMAND, database + ".$cmd", new Document("dropDatabase", 1), null);
        }
    }

    @Override
    public void handleDropCollection(String namespace) {
        if (!recorded(namespace)) {
            return;
        }
        String[] parts = splitNamespace(namespace);
        append(COMMAND, parts[0] + ".$cmd", new Document("drop", parts[1]), null);
    }

    /**
     * MongoDB does not replicate the local database (our own oplog lives there), and change streams show no system
     * collections (mongo-java-server keeps its index catalogue in system.indexes and system.namespaces).
     */
    private static boolean recorded(String namespace) {
        return !namespace.startsWith("local.") && !splitNamespace(namespace)[1].startsWith("system.");
    }

    private void append(String operation, String namespace, Document object, Object id) {
        synchronized (appendLock) {
            long timestamp = nextTimestamp();
            Document entry = new Document("_id", timestamp)
                .append("ts", new BsonTimestamp(timestamp))
                .append("wall", Instant.now(clock).truncatedTo(ChronoUnit.MILLIS))
                .append("op", operation)
                .append("ns", namespace)
                .append("o", object);
            if (id != null) {
                entry.append("o2", new Document("_id", id));
            }
            store.addDocument(entry);
            entries.put(timestamp, entry);
            size++;
            latest = timestamp;
            if (size > maxEntries + trimSlack) {
                trim();
            }
        }
        for (Runnable waiter : waiters) {
            if (waiters.remove(waiter)) {
                waiter.run();
            }
        }
    }

    /** Seconds since the epoch in the high half, a counter in the low half; always increasing. */
    private long nextTimestamp() {
        long now = Instant.now(clock).getEpochSecond() << 32 | 1L;
        allocated = Math.max(now, allocated + 1);
        return allocated;
    }

    private void trim() {
        long newFloor = 0;
        int excess = size - maxEntries;
        for (Map.Entry<Long, Document> oldest : entries.entrySet()) {
            if (excess-- <= 0) {
                break;
            }
            newFloor = oldest.getKey();
        }
        int before = entries.headMap(newFloor, true).size();
        entries.headMap(newFloor, true).clear();
        size -= before;
        store.deleteDocuments(new Document("_id", new Document("$lte", newFloor)), 0);
        floor = newFloor;
        saveFloor();
    }

    private void saveFloor() {
        meta.deleteDocuments(new Document("_id", FLOOR_ID), 0);
        meta.addDocument(new Document("_id", FLOOR_ID).append("ts", new BsonTimestamp(floor)));
    }

    // --- waiting ----------------------------------------------------------------------------

    /** Runs {@code wake} once, after the first entry newer than {@code seen} (at once if there is one already). */
    void wakeAfter(long seen, Runnable wake) {
        waiters.add(wake);
        if (latest > seen && waiters.remove(wake)) {
            wake.run();
        }
    }

    void forget(Runnable wake) {
        waiters.remove(wake);
    }

    // --- streams ----------------------------------------------------------------------------

    @Override
    public Cursor createCursor(Document changeStream, String namespace, Aggregation aggregation) {
        return createCursor(changeStream, StreamScope.ofNamespace(namespace), aggregation);
    }

    ChangeStreamCursor createCursor(Document changeStream, StreamScope scope, Aggregation aggregation) {
        Object fullDocument = changeStream.getOrDefault("fullDocument", "default");
        if (!"default".equals(fullDocument) && !"updateLookup".equals(fullDocument)) {
            throw new MongoServerError(9, "FailedToParse",
                "fullDocument '" + fullDocument + "' is not supported by this server (only default and updateLookup)");
        }
        long position;
        boolean invalidateFirst = false;
        if (changeStream.get("startAfter") != null) {
            position = resumablePosition(ResumeToken.parse(changeStream.get("startAfter")));
        } else if (changeStream.get("resumeAfter") != null) {
            ResumeToken token = ResumeToken.parse(changeStream.get("resumeAfter"));
            if (token.invalidate()) {
                throw new MongoServerError(260, "InvalidResumeToken",
                    "cannot resume a stream after an invalidate event; use startAfter instead");
            }
            position = resumablePosition(token);
            Document resumedAt = entryAt(position);
            invalidateFirst = resumedAt != null && COMMAND.equals(resumedAt.get("op")) && scope.endsWith(resumedAt);
        } else if (changeStream.get("startAtOperationTime") instanceof BsonTimestamp start) {
            position = resumablePosition(new ResumeToken(start.getValue() - 1, false));
        } else {
            position = latest;
        }
        ChangeStreamCursor cursor = new ChangeStreamCursor(cursors.generateCursorId(), this, scope,
            "updateLookup".equals(fullDocument), aggregation, position, invalidateFirst);
        cursors.add(cursor);
        openedByThisThread.set(cursor);
        return cursor;
    }

    private long resumablePosition(ResumeToken token) {
        if (Long.compareUnsigned(token.timestamp(), floor) < 0) {
            throw ResumeToken.historyLost("the resume point may no longer be in the oplog");
        }
        return token.timestamp();
    }

    /** The change-stream cursor the current thread's aggregate command opened, if any; forgets it. */
    ChangeStreamCursor takeOpenedCursor() {
        ChangeStreamCursor cursor = openedByThisThread.get();
        openedByThisThread.remove();
        return cursor;
    }
}
