package contactsearch.streamserver;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import de.bwaldvogel.mongo.backend.AbstractCursor;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;

/**
 * One change stream: turns the oplog entries after its position that its scope covers into MongoDB-shaped events.
 *
 * <p>The position is the newest oplog timestamp the stream has looked at, whether or not that entry became an event:
 * it is what {@code postBatchResumeToken} reports, so an idle stream's token still moves forward as MongoDB's does.
 */
final class ChangeStreamCursor extends AbstractCursor {

    /** Events per batch when the client sets no batch size (keeps replies well under the 48 MB message limit). */
    private static final int DEFAULT_BATCH = 1000;

    private final ChangeStreamOplog oplog;
    private final StreamScope scope;
    private final boolean lookUpUpdates;
    private final Aggregation pipeline;

    private long position;
    private boolean invalidatePending;
    private boolean invalidated;

    ChangeStreamCursor(long id, ChangeStreamOplog oplog, StreamScope scope, boolean lookUpUpdates,
                       Aggregation pipeline, long position, boolean invalidatePending) {
        super(id);
        this.oplog = oplog;
        this.scope = scope;
        this.lookUpUpdates = lookUpUpdates;
        this.pipeline = pipeline;
        this.position = position;
        this.invalidatePending = invalidatePending;
    }

    /** True once the stream has delivered its invalidate event: the server then closes the cursor. */
    @Override
    public synchronized boolean isEmpty() {
        return invalidated;
    }

    synchronized long position() {
        return position;
    }

    synchronized Document postBatchResumeToken() {
        return new ResumeToken(position, invalidated).toDocument();
    }

    @Override
    public synchronized List<Document> takeDocuments(int batchSize) {
        if (invalidated) {
            return new ArrayList<>();
        }
        long start = position;
        List<Document> batch = nextBatch(batchSize > 0 ? batchSize : DEFAULT_BATCH);
        // Checked after reading too: a trim while we read may have removed entries we should have seen.
        if (Long.compareUnsigned(start, oplog.floor()) < 0) {
            // The oplog was trimmed past this cursor, as happens to a MongoDB consumer that falls too far behind.
            position = start;
            throw ResumeToken.historyLost("the change stream fell off the oplog");
        }
        return batch;
    }

    private List<Document> nextBatch(int limit) {
        List<Document> batch = new ArrayList<>();
        if (invalidatePending) {
            batch.add(invalidateEvent(oplog.entryAt(position)));
            invalidatePending = false;
            invalidated = true;
            return batch;
        }
        long upTo = oplog.latest();
        for (Document entry : oplog.entriesBetween(position, upTo)) {
            if (batch.size() >= limit) {
                return batch;
            }
            long timestamp = ((BsonTimestamp) entry.get("ts")).getValue();
            Document event = toEvent(entry);
            if (event != null) {
                batch.addAll(pipeline.runStages(Stream.of(event)));
            }
            position = timestamp;
            if (ChangeStreamOplog.COMMAND.equals(entry.get("op")) && scope.endsWith(entry)) {
                batch.add(invalidateEvent(entry));
                invalidated = true;
                return batch;
            }
        }
        if (Long.compareUnsigned(upTo, position) > 0) {
            position = upTo;
        }
        return batch;
    }

    /** The event MongoDB would emit for this entry on this stream, or null if it emits none. */
    private Document toEvent(Document entry) {
        String operation = (String) entry.get("op");
        Document object = (Document) entry.get("o");
        if (ChangeStreamOplog.COMMAND.equals(operation)) {
            if (!scope.shows(entry)) {
                return null;
            }
            String database = ChangeStreamOplog.splitNamespace((String) entry.get("ns"))[0];
            return object.containsKey("drop")
                ? header(entry, "drop").append("ns", new Document("db", database).append("coll", object.get("drop")))
                : header(entry, "dropDatabase").append("ns", new Document("db", database));
        }
        String namespace = (String) entry.get("ns");
        if (!scope.covers(namespace)) {
            return null;
        }
        return switch (operation) {
            case ChangeStreamOplog.INSERT -> header(entry, "insert")
                .append("fullDocument", object.cloneDeeply())
                .append("ns", ns(namespace))
                .append("documentKey", new Document("_id", object.get("_id")));
            case ChangeStreamOplog.REPLACE -> header(entry, "replace")
                .append("fullDocument", object.cloneDeeply())
                .append("ns", ns(namespace))
                .append("documentKey", documentKey(entry));
            case ChangeStreamOplog.UPDATE -> {
                Document event = header(entry, "update");
                if (lookUpUpdates) {
                    // Null when the document has been deleted since, as MongoDB reports it.
                    event.append("fullDocument", oplog.lookUp(namespace, documentKey(entry).get("_id")));
                }
                yield event.append("ns", ns(namespace))
                    .append("documentKey", documentKey(entry))
                    .append("updateDescription", object.cloneDeeply());
            }
            case ChangeStreamOplog.DELETE -> header(entry, "delete")
                .append("ns", ns(namespace))
                .append("documentKey", documentKey(entry));
            default -> null;
        };
    }

    private static Document header(Document entry, String operationType) {
        long timestamp = ((BsonTimestamp) entry.get("ts")).getValue();
        return new Document("_id", new ResumeToken(timestamp, false).toDocument())
            .append("operationType", operationType)
            .append("clusterTime", entry.get("ts"))
            .append("wallTime", entry.get("wall"));
    }

    private Document invalidateEvent(Document dropEntry) {
        long timestamp = ((BsonTimestamp) dropEntry.get("ts")).getValue();
        return new Document("_id", new ResumeToken(timestamp, true).toDocument())
            .append("operationType", "invalidate")
            .append("clusterTime", dropEntry.get("ts"))
            .append("wallTime", dropEntry.get("wall"));
    }

    private static Document documentKey(Document entry) {
        return ((Document) entry.get("o2")).cloneDeeply();
    }

    private static Document ns(String namespace) {
        String[] parts = ChangeStreamOplog.splitNamespace(namespace);
        return new Document("db", parts[0]).append("coll", parts[1]);
    }
}
