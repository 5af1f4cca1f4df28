package contactsearch.streamserver;

import java.util.List;
import java.util.Map;

import org.h2.mvstore.MVStore;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.Cursor;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.CursorNotFoundException;
import de.bwaldvogel.mongo.exception.MongoServerError;
import de.bwaldvogel.mongo.oplog.Oplog;
import io.netty.channel.Channel;

/**
 * mongo-java-server's H2 backend with the replies a change-stream client needs from MongoDB: a wire version
 * PyMongo 4 accepts, {@code operationTime} on every reply, {@code postBatchResumeToken} on change-stream batches,
 * change events for findAndModify, and our {@link ChangeStreamOplog} instead of the stock one.
 */
final class StreamBackend extends H2Backend {

    /** MongoDB 6.0 (wire version 17): new enough for PyMongo 4.x, old enough to ask nothing newer of us. */
    private static final MongoVersion REPORTED_VERSION = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(6, 0, 0);
        }

        @Override
        public int getWireVersion() {
            return 17;
        }
    };

    private final int oplogMaxEntries;
    private final Object findAndModifyLock = new Object();
    private ChangeStreamOplog streamOplog;

    StreamBackend(MVStore store, int oplogMaxEntries) {
        super(store);
        this.oplogMaxEntries = oplogMaxEntries;
        version(REPORTED_VERSION);
    }

    @Override
    protected Oplog createOplog() {
        MongoDatabase local = resolveDatabase("local");
        streamOplog = new ChangeStreamOplog(this, collection(local, "oplog.rs"), collection(local, "streamserver.meta"),
            getCursorRegistry(), getClock(), oplogMaxEntries);
        return streamOplog;
    }

    @SuppressWarnings("unchecked")
    private static MongoCollection<Document> collection(MongoDatabase database, String name) {
        MongoCollection<?> collection = database.resolveCollection(name, false);
        if (collection == null) {
            collection = database.createCollectionOrThrowIfExists(name);
        }
        return (MongoCollection<Document>) collection;
    }

    ChangeStreamOplog oplog() {
        return streamOplog;
    }

    @Override
    public Document handleCommand(Channel channel, String database, String command, Document query) {
        Document reply;
        ChangeStreamCursor stream = command.equalsIgnoreCase("getMore") ? streamCursor(query) : null;
        if (stream != null) {
            reply = streamGetMore(database, query, stream);
        } else if (command.equalsIgnoreCase("findAndModify")) {
            reply = recordedFindAndModify(channel, database, command, query);
        } else if (command.equalsIgnoreCase("hello")) {
            reply = new Document("isWritablePrimary", Boolean.TRUE);
            Document isMaster = super.handleCommand(channel, database, "isMaster", query);
            isMaster.remove("ismaster");
            reply.putAll(isMaster);
        } else if (command.equalsIgnoreCase("aggregate") && !(query.get("aggregate") instanceof String)
            && changeStreamStage(query) != null) {
            reply = wideStream(database, query, changeStreamStage(query));
        } else if (command.equalsIgnoreCase("aggregate")) {
            try {
                reply = super.handleCommand(channel, database, command, query);
                ChangeStreamCursor opened = streamOplog.takeOpenedCursor();
                if (opened != null) {
                    ((Document) reply.get("cursor")).put("postBatchResumeToken", opened.postBatchResumeToken());
                }
            } finally {
                streamOplog.takeOpenedCursor();
            }
        } else {
            reply = super.handleCommand(channel, database, command, query);
        }
        if (reply != null && Double.valueOf(1.0).equals(toDouble(reply.get("ok")))) {
            // What a causally consistent client and a change stream without a token start from.
            reply.put("operationTime", new BsonTimestamp(streamOplog.latest()));
        }
        return reply;
    }

    @Override
    public void dropDatabase(String database) {
        boolean existed = listDatabaseNames().contains(database);
        super.dropDatabase(database);
        if (existed) {
            streamOplog.handleDropDatabase(database);
        }
    }

    private static Document changeStreamStage(Document aggregate) {
        if (aggregate.get("pipeline") instanceof List<?> pipeline && !pipeline.isEmpty()
            && pipeline.get(0) instanceof Document first && first.get("$changeStream") instanceof Document stage) {
            return stage;
        }
        return null;
    }

    /** {@code db.watch()} ({@code aggregate: 1}) and {@code client.watch()} (the same on admin, for the cluster). */
    private Document wideStream(String database, Document query, Document changeStream) {
        boolean cluster = Boolean.TRUE.equals(changeStream.get("allChangesForCluster"));
        if (cluster != database.equals("admin")) {
            throw new MongoServerError(73, "InvalidNamespace", cluster
                ? "allChangesForCluster is only allowed on the admin database"
                : "a database change stream cannot be opened on the admin database");
        }
        List<Document> stages = Aggregation.parse(query.get("pipeline"));
        Aggregation aggregation = Aggregation.fromPipeline(stages.subList(1, stages.size()), this::resolveDatabase,
            resolveDatabase(database), null, streamOplog);
        StreamScope scope = cluster ? StreamScope.ofCluster() : StreamScope.ofDatabase(database);
        ChangeStreamCursor stream = streamOplog.createCursor(changeStream, scope, aggregation);
        streamOplog.takeOpenedCursor();
        int batchSize = query.get("cursor") instanceof Document cursor && cursor.get("batchSize") instanceof Number n
            ? n.intValue() : 0;
        Document cursor = new Document("firstBatch", stream.takeDocuments(batchSize))
            .append("postBatchResumeToken", stream.postBatchResumeToken())
            .append("id", stream.getId())
            .append("ns", database + ".$cmd.aggregate");
        Document reply = new Document("cursor", cursor);
        Utils.markOkay(reply);
        return reply;
    }

    private static Double toDouble(Object value) {
        return value instanceof Number number ? number.doubleValue() : null;
    }

    /** The open change-stream cursor a getMore names, or null if it names another kind (or none). */
    ChangeStreamCursor streamCursor(Document getMore) {
        if (!(getMore.get("getMore") instanceof Number id)) {
            return null;
        }
        try {
            Cursor cursor = getCursorRegistry().getCursor(id.longValue());
            return cursor instanceof ChangeStreamCursor stream ? stream : null;
        } catch (CursorNotFoundException e) {
            return null;
        }
    }

    private Document streamGetMore(String database, Document query, ChangeStreamCursor stream) {
        int batchSize = query.get("batchSize") instanceof Number number ? number.intValue() : 0;
        List<Document> batch = stream.takeDocuments(batchSize);
        long id = stream.getId();
        if (stream.isEmpty()) {
            getCursorRegistry().remove(stream);
            id = 0;
        }
        Document cursor = new Document("nextBatch", batch)
            .append("postBatchResumeToken", stream.postBatchResumeToken())
            .append("id", id)
            .append("ns", database + "." + query.get("collection"));
        Document reply = new Document("cursor", cursor);
        Utils.markOkay(reply);
        return reply;
    }

    /**
     * mongo-java-server applies findAndModify without telling the oplog; MongoDB records it like any other write.
     * We find the target first and record the outcome. The lock keeps two of these apart, not a concurrent update.
     */
    private Document recordedFindAndModify(Channel channel, String database, String command, Document query) {
        String collectionName = String.valueOf(query.get(command));
        String namespace = database + "." + collectionName;
        Document selector = query.get("query") instanceof Document given ? given : new Document();
        synchronized (findAndModifyLock) {
            Document before = firstMatch(database, collectionName, selector, query.get("sort"));
            Document reply = super.handleCommand(channel, database, command, query);
            if (isTrue(query.get("remove"))) {
                if (before != null) {
                    streamOplog.handleDelete(namespace, selector, List.of(before.get("_id")));
                }
            } else if (query.get("update") instanceof Document update) {
                if (before != null) {
                    Document after = streamOplog.lookUp(namespace, before.get("_id"));
                    if (after != null && !after.equals(before)) {
                        streamOplog.handleUpdate(namespace, selector, update, List.of(before.get("_id")));
                    }
                } else if (isTrue(query.get("upsert"))) {
                    Document inserted = upserted(database, collectionName, selector, reply);
                    if (inserted != null) {
                        streamOplog.handleInsert(namespace, List.of(inserted));
                    }
                }
            }
            return reply;
        }
    }

    private Document firstMatch(String database, String collectionName, Document selector, Object sort) {
        MongoCollection<?> collection = resolveDatabase(database).resolveCollection(collectionName, false);
        if (collection == null) {
            return null;
        }
        Document query = new Document("query", selector);
        if (sort instanceof Document order && !order.isEmpty()) {
            query.put("orderby", order);
        }
        for (Document document : collection.handleQuery(query, 0, 1)) {
            return document.cloneDeeply();
        }
        return null;
    }

    private Document upserted(String database, String collectionName, Document selector, Document reply) {
        String namespace = database + "." + collectionName;
        if (reply.get("value") instanceof Document value && value.containsKey("_id")) {
            return streamOplog.lookUp(namespace, value.get("_id"));
        }
        Object id = selector.get("_id");
        if (id != null && !(id instanceof Map<?, ?> map && map.keySet().stream().anyMatch(k -> k.toString().startsWith("$")))) {
            return streamOplog.lookUp(namespace, id);
        }
        return firstMatch(database, collectionName, selector, null);
    }

    private static boolean isTrue(Object value) {
        return value instanceof Boolean flag ? flag : value instanceof Number number && number.doubleValue() != 0;
    }
}
